/**
 * Notifications no funder sent: JSON without a valid signature (or in the wrong format for the
 * channel), posted to a channel's callback URL as an attacker would. The engine refuses each
 * (`callback.rejected`) and stores nothing; returns the HTTP statuses it answered.
 */
export async function sendForgedCallbacks(parts: {
  /** The host's callback endpoint, e.g. `http://127.0.0.1:41234`. */
  callbackUrl: string;
  channel: string;
  callback: string;
  count: number;
}): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 1; i <= parts.count; i++) {
    const response = await fetch(
      `${parts.callbackUrl}/callbacks/${parts.channel}/${parts.callback}`,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          notifyNo: `FORGED-${i}`,
          timestamp: 0,
          sign: "Zm9yZ2Vk",
          data: { status: "SUCCESS", amount: "999999.00" },
        }),
        signal: AbortSignal.timeout(10_000),
      },
    );
    await response.arrayBuffer();
    statuses.push(response.status);
  }
  return statuses;
}
