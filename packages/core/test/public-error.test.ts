import { describe, expect, test } from "vitest";
import { errorCodes, publicError, retryableByDefault } from "../src/internal.ts";

/** What operators' messages name and the public form never repeats. */
const operatorsText =
  "POST https://funder.example.com:8443/api/loan failed (ECONNREFUSED 10.1.2.3:8443); secret file:/etc/capflow/keys/lanbank.pem not found";

describe("publicError", () => {
  test("every code keeps its code and default retryability, and a sentence naming no host, URL, port or path", () => {
    for (const code of errorCodes) {
      const form = publicError({ code, message: operatorsText });
      expect(form.code).toBe(code);
      expect(form.retryable).toBe(retryableByDefault[code]);
      for (const detail of [
        "funder.example.com",
        "8443",
        "10.1.2.3",
        "/etc/",
        "keys/",
        "file:",
        "://",
      ]) {
        expect(form.message).not.toContain(detail);
      }
      expect(form.message).not.toBe("");
    }
  });

  test("sentences are by code family, a few codes having their own", () => {
    expect(publicError({ code: "TRANSPORT_UNKNOWN_OUTCOME", message: operatorsText })).toEqual({
      code: "TRANSPORT_UNKNOWN_OUTCOME",
      retryable: false,
      message:
        "the funder did not answer in time, so whether it received the request is not known; capflow finds out before sending it again",
    });
    expect(publicError({ code: "CRYPTO_SIGN_FAILED", message: operatorsText }).message).toBe(
      "a message to or from the funder could not be signed, encrypted or verified; capflow's operators have the details",
    );
    expect(publicError({ code: "INTERNAL", message: operatorsText })).toEqual({
      code: "INTERNAL",
      retryable: false,
      message: "capflow met a failure it did not expect; capflow's operators have the details",
    });
    expect(publicError({ code: "STORE_UNAVAILABLE", message: operatorsText })).toMatchObject({
      retryable: true,
      message: "capflow's database failed; capflow's operators have the details",
    });
  });

  test("a code capflow does not know (a host's own, an older version's) gets the general sentence, not retryable", () => {
    for (const code of ["MY_PROCESSOR_BROKE", "constructor", "__proto__", ""]) {
      expect(publicError({ code, message: operatorsText })).toEqual({
        code,
        retryable: false,
        message: "capflow met a failure; capflow's operators have the details",
      });
    }
  });
});
