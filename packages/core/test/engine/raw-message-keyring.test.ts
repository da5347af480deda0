import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { describe, expect, test } from "vitest";
import {
  isSealedRawMessage,
  RawMessageKeyring,
  type SealedRawMessage,
} from "../../src/engine/raw-message-keyring.ts";
import { Redacted } from "../../src/redacted.ts";
import { engineHarness } from "../support/harness.ts";
import { testChannel } from "../support/loan-definitions.ts";

const idCard = "110101199003071234";
const message = { request: `{"idCardNo":"${idCard}"}`, response: '{"status":"ACCEPTED"}' };

function keyring(current: string, keys: Record<string, Buffer>) {
  return new RawMessageKeyring({ current, keys });
}

describe("raw messages at rest", () => {
  test("a sealed message names its key and holds no plaintext; it opens to what was sealed", () => {
    const k1 = randomBytes(32);
    const keys = keyring("k1", { k1 });
    const sealed = keys.seal(message, "step-log");
    expect(isSealedRawMessage(sealed)).toBe(true);
    expect(sealed.keyId).toBe("k1");
    expect(JSON.stringify(sealed)).not.toContain(idCard);
    expect(Buffer.from(sealed.data, "base64").toString("latin1")).not.toContain(idCard);
    expect(keys.open(sealed, "step-log")).toEqual(message);
    // A fresh nonce each time: the same message never seals the same way twice.
    expect(keys.seal(message, "step-log").iv).not.toBe(sealed.iv);
  });

  test("after rotation, new messages use the new key and older ones still open", () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const before = keyring("k1", { k1 }).seal(message, "inbox");
    const rotated = RawMessageKeyring.parse(
      `k2=${k2.toString("base64")}\nk1=${k1.toString("base64")}`,
    );
    expect(rotated.currentKeyId).toBe("k2");
    expect(rotated.keyIds).toEqual(["k2", "k1"]);
    expect(rotated.open(before, "inbox")).toEqual(message);
    const after = rotated.seal(message, "inbox");
    expect(after.keyId).toBe("k2");
    expect(keyring("k2", { k2 }).open(after, "inbox")).toEqual(message);
  });

  test("a retired key gives RAW_MESSAGE_KEY_UNKNOWN, other material under its id RAW_MESSAGE_DECRYPT_FAILED", () => {
    const sealed = keyring("k1", { k1: randomBytes(32) }).seal(message, "step-log");
    expect(() => keyring("k2", { k2: randomBytes(32) }).open(sealed, "step-log")).toThrow(
      expect.objectContaining({ code: "RAW_MESSAGE_KEY_UNKNOWN" }),
    );
    expect(() => keyring("k1", { k1: randomBytes(32) }).open(sealed, "step-log")).toThrow(
      expect.objectContaining({ code: "RAW_MESSAGE_DECRYPT_FAILED" }),
    );
  });

  test("a tampered message is refused with RAW_MESSAGE_DECRYPT_FAILED, whichever part was changed", () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const keys = keyring("k1", { k1, k2 });
    const sealed = keys.seal(message, "step-log");
    const flip = (text: string) => {
      const bytes = Buffer.from(text, "base64");
      bytes[0] = (bytes[0] ?? 0) ^ 1;
      return bytes.toString("base64");
    };
    const tampered: SealedRawMessage[] = [
      { ...sealed, data: flip(sealed.data) },
      { ...sealed, tag: flip(sealed.tag) },
      { ...sealed, iv: flip(sealed.iv) },
      { ...sealed, iv: Buffer.alloc(8).toString("base64") },
      { ...sealed, keyId: "k2" },
      { ...sealed, alg: "none" as "A256GCM" },
    ];
    for (const altered of tampered) {
      expect(() => keys.open(altered, "step-log")).toThrow(
        expect.objectContaining({ code: "RAW_MESSAGE_DECRYPT_FAILED" }),
      );
    }
    // Bound to where it is kept: a step log's message does not pass for a notification.
    expect(() => keys.open(sealed, "inbox")).toThrow(
      expect.objectContaining({ code: "RAW_MESSAGE_DECRYPT_FAILED" }),
    );
  });

  test("reseal moves a message to the current key, and seals one an earlier version kept in clear", () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const old = keyring("k1", { k1 }).seal(message, "step-log");
    const rotated = keyring("k2", { k1, k2 });
    const moved = rotated.reseal(old, "step-log");
    expect(moved.keyId).toBe("k2");
    expect(keyring("k2", { k2 }).open(moved, "step-log")).toEqual(message);
    const clearNotification = { body: `<mobile>${idCard}</mobile>`, bytes: "PG1vYmlsZT4=" };
    const sealed = rotated.reseal(clearNotification, "inbox");
    expect(JSON.stringify(sealed)).not.toContain(idCard);
    expect(rotated.open(sealed, "inbox")).toEqual(clearNotification);
    expect(rotated.open(rotated.reseal(message, "step-log"), "step-log")).toEqual(message);
    for (const [stored, kind] of [
      [{ ...old, data: Buffer.from("altered").toString("base64") }, "step-log"],
      [{ body: 42 }, "inbox"],
      [{ request: "x", extra: "y" }, "step-log"],
      [{ bytes: "AAAA" }, "inbox"],
      ["text", "inbox"],
      [{}, "step-log"],
    ] as const) {
      expect(() => rotated.reseal(stored, kind)).toThrow(
        expect.objectContaining({ code: "RAW_MESSAGE_DECRYPT_FAILED" }),
      );
    }
  });

  test("keys that do not hold are refused with KEY_INVALID, and the key material is never printed", () => {
    const material = randomBytes(32).toString("base64");
    const short = randomBytes(16).toString("base64");
    const attempts = [
      () => RawMessageKeyring.parse(`k1=${short}`),
      () => RawMessageKeyring.parse(material),
      () => RawMessageKeyring.parse(`k1=${material},k1=${material}`),
      () => keyring("bad id", { "bad id": Buffer.from(material, "base64") }),
    ];
    for (const attempt of attempts) {
      try {
        attempt();
        expect.unreachable("the keys should be refused");
      } catch (error) {
        expect(error).toMatchObject({ code: "KEY_INVALID" });
        expect(String((error as Error).message)).not.toContain(material);
        expect(String((error as Error).message)).not.toContain(short);
      }
    }
    expect(() => RawMessageKeyring.parse("")).toThrow(
      expect.objectContaining({ code: "RAW_MESSAGE_KEY_MISSING" }),
    );
    expect(() => keyring("k9", { k1: Buffer.from(material, "base64") })).toThrow(
      expect.objectContaining({ code: "RAW_MESSAGE_KEY_MISSING" }),
    );
    const keys = RawMessageKeyring.parse(Redacted.of(Buffer.from(`k1=${material}`)));
    for (const shown of [String(keys), JSON.stringify(keys), inspect(keys), inspect({ keys })]) {
      expect(shown).toContain("k1");
      expect(shown).not.toContain(material);
    }
  });
});

describe("an engine keeping raw messages", () => {
  test("refuses keepRawMessages without a key, at construction, saying how to configure one", () => {
    const h = engineHarness();
    expect(() => h.makeEngine({ keepRawMessages: true })).toThrow(
      expect.objectContaining({
        code: "RAW_MESSAGE_KEY_MISSING",
        message: expect.stringContaining("CAPFLOW_RAW_MESSAGE_KEYS"),
      }),
    );
  });

  test("stores the request and response as sent, encrypted; they open with the key", async () => {
    const rawMessageKeys = keyring("k1", { k1: randomBytes(32) });
    const h = engineHarness({ engine: { keepRawMessages: true, rawMessageKeys } });
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED", applyNo: "A-1" } });
    const { id } = await h.startLoan("L-RAW");
    await h.engine.runDue();
    const history = await h.engine.history(id);
    expect(JSON.stringify(history)).not.toContain(idCard);
    const kept = history.filter((entry) => entry.raw !== undefined);
    expect(kept).toHaveLength(1);
    const raw = rawMessageKeys.open(kept[0]!.raw!, "step-log");
    expect(raw.request).toContain(idCard);
    expect(raw.response).toContain("A-1");
  });

  test("refuses a callback that keeps its body when no key is configured; nothing is stored", async () => {
    const engine = engineHarness({
      channel: {
        ...testChannel,
        callbacks: {
          ...testChannel.callbacks,
          "loan.result": { ...testChannel.callbacks!["loan.result"]!, keepRawBody: true },
        },
      },
    });
    engine.transport.script("/loan/apply", { body: { status: "ACCEPTED", applyNo: "A-1" } });
    await engine.startLoan("L-NOKEY");
    await engine.engine.runDue();
    await expect(
      engine.callback({ loanNo: "L-NOKEY", notifyId: "N-1", status: "SUCCESS" }),
    ).rejects.toMatchObject({ code: "RAW_MESSAGE_KEY_MISSING" });
    expect(await engine.store.pendingInbox({ channel: "lanbank", businessKey: "L-NOKEY" })).toEqual(
      [],
    );
  });
});
