import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Where OpenSSH's server is installed (Debian: `apt-get install openssh-server`). */
export const sshdPath = ["/usr/sbin/sshd", "/usr/local/sbin/sshd"].find((path) => existsSync(path));

export const sshdSkipMessage =
  "SFTP tests skipped: OpenSSH's sshd is not installed (apt-get install openssh-server)";

export interface TestSftpServer {
  host: string;
  port: number;
  username: string;
  /** The folder the server's files live in (an absolute path on the server). */
  root: string;
  /** The client's private key file (OpenSSH format) that the server accepts. */
  clientKey: string;
  /** Another private key the server does not know. */
  strangerKey: string;
  /** The server's host key fingerprint, `SHA256:…`. */
  hostKeyFingerprint: string;
  stop(): Promise<void>;
}

/**
 * A real OpenSSH server on loopback for this process's user: its own host key, authorized_keys
 * and configuration in a temporary folder, on a free port, SFTP by `internal-sftp`, public-key
 * authentication only. `stop()` ends it and removes the folder.
 */
export async function startTestSftpServer(): Promise<TestSftpServer> {
  if (sshdPath === undefined) throw new Error(sshdSkipMessage);
  const dir = await mkdtemp(join(tmpdir(), "capflow-sshd-"));
  const root = join(dir, "files");
  await mkdir(root);
  const keygen = (file: string) =>
    run("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      "capflow-test",
      "-f",
      join(dir, file),
    ]);
  await Promise.all([keygen("host_ed25519"), keygen("client_ed25519"), keygen("stranger_ed25519")]);
  await writeFile(join(dir, "authorized_keys"), await readFile(join(dir, "client_ed25519.pub")));
  const { stdout } = await run("ssh-keygen", [
    "-l",
    "-E",
    "sha256",
    "-f",
    join(dir, "host_ed25519.pub"),
  ]);
  const hostKeyFingerprint = stdout.split(" ")[1]!;
  const port = await freePort();
  const config = [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${join(dir, "host_ed25519")}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    "StrictModes no",
    "UsePAM no",
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitRootLogin prohibit-password",
    "Subsystem sftp internal-sftp",
    "LogLevel ERROR",
  ].join("\n");
  await writeFile(join(dir, "sshd_config"), `${config}\n`);
  // Run as root, sshd wants its privilege separation folder.
  if (process.getuid?.() === 0) await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  const child: ChildProcess = spawn(sshdPath, ["-D", "-e", "-f", join(dir, "sshd_config")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let errors = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    errors += chunk.toString("utf8");
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, child, () => errors);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    host: "127.0.0.1",
    port,
    username: userInfo().username,
    root,
    clientKey: join(dir, "client_ed25519"),
    strangerKey: join(dir, "stranger_ed25519"),
    hostKeyFingerprint,
    stop,
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, errors: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited: ${errors()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: "127.0.0.1", port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`sshd did not listen on port ${port}: ${errors()}`);
}
