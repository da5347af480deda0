import { useState } from "preact/hooks";
import { OpsApiError } from "../api/client.ts";
import type { IssuedToken, TokenRow } from "../api/types.ts";
import { LoadedView } from "../components/loaded-view.tsx";
import { MakeTokenForm } from "../components/make-token-form.tsx";
import { NewTokenSecret } from "../components/new-token-secret.tsx";
import { RevokeTokenPanel } from "../components/revoke-token-panel.tsx";
import { formatDateTime } from "../format.ts";
import { useI18n } from "../i18n/i18n.ts";
import { useLeaveWarning } from "../leave-warning.ts";
import { maskText } from "../mask.ts";
import { useSession } from "../session.ts";
import { useLoad } from "../use-load.ts";

/** The listing, or the server's 403: the page says who may manage tokens instead of failing. */
type TokensListing = { state: "listed"; tokens: TokenRow[] } | { state: "forbidden" };

/**
 * Operator tokens, for admins: every token with who made and revoked it, when and why, and when
 * it was last used (stale ones are the ones to revoke); make one (its secret shown once), revoke
 * one with a reason after a confirmation. The same endpoints as `capflow tokens` through a server.
 * Others get the server's 403 as a sentence.
 */
export function TokensPage() {
  const { t, locale } = useI18n();
  const { client, operator } = useSession();
  const [loaded, reload] = useLoad<TokensListing>(async () => {
    try {
      return { state: "listed", tokens: await client.tokens() };
    } catch (error) {
      if (error instanceof OpsApiError && error.status === 403) return { state: "forbidden" };
      throw error;
    }
  }, "tokens");
  const [issued, setIssued] = useState<IssuedToken | null>(null);
  const [revoking, setRevoking] = useState<TokenRow | null>(null);
  const [done, setDone] = useState<string | null>(null);
  // Until the new secret is confirmed copied, leaving the page or making another would lose it.
  useLeaveWarning(issued ? t("tokens.secret.leave") : null);
  // Tokens belong to no channel: times are in the browser's zone, named.
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const byWhenWhy = (who: string | null, at: number, why: string | null) =>
    t("tokens.byWhenWhy", {
      who: who ?? t("tokens.someone"),
      when: formatDateTime(at, zone, locale),
      why: why === null ? t("tokens.noReason") : maskText(why),
    });
  return (
    <section aria-labelledby="tokens-title">
      <h1 id="tokens-title">{t("tokens.title")}</h1>
      {/* Outside the listing: a failed reload after a make must not take the only copy away. */}
      {issued ? <NewTokenSecret issued={issued} onDone={() => setIssued(null)} /> : null}
      <LoadedView loaded={loaded}>
        {(listing) =>
          listing.state === "forbidden" ? (
            <p class="notice" role="status">
              {t("tokens.forbidden", { who: operator.name, role: operator.role })}
            </p>
          ) : (
            <>
              <p>{t("tokens.intro")}</p>
              <MakeTokenForm
                secretShown={issued !== null}
                onMade={(made) => {
                  setDone(null);
                  setIssued(made);
                  reload();
                }}
              />
              <h2>{t("tokens.list")}</h2>
              <p class="muted">
                {t("tokens.timeZone", { zone })} {t("tokens.lastUsed.note")}
              </p>
              <div class="table-wrap">
                <table class="tokens">
                  <thead>
                    <tr>
                      <th scope="col">{t("tokens.name")}</th>
                      <th scope="col">{t("tokens.role")}</th>
                      <th scope="col">{t("tokens.made")}</th>
                      <th scope="col">{t("tokens.revoked")}</th>
                      <th scope="col">{t("tokens.lastUsed")}</th>
                      <th scope="col">
                        <span class="visually-hidden">{t("tokens.revoke")}</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {listing.tokens.map((token) => (
                      <tr key={token.id} class={token.revokedAt === null ? undefined : "revoked"}>
                        <th scope="row">
                          {token.name}
                          <div class="muted">{token.id}</div>
                        </th>
                        <td>{token.role}</td>
                        <td>{byWhenWhy(token.createdBy, token.createdAt, token.createdReason)}</td>
                        <td>
                          {token.revokedAt === null ? (
                            <span class="badge badge-active">{t("tokens.inUse")}</span>
                          ) : (
                            byWhenWhy(token.revokedBy, token.revokedAt, token.revokedReason)
                          )}
                        </td>
                        <td>
                          {token.lastUsedAt === null ? (
                            <span class="muted">{t("tokens.lastUsed.none")}</span>
                          ) : (
                            formatDateTime(token.lastUsedAt, zone, locale)
                          )}
                        </td>
                        <td>
                          {token.revokedAt === null ? (
                            <button
                              type="button"
                              aria-label={t("tokens.revoke.label", { name: token.name })}
                              onClick={() => {
                                setDone(null);
                                setRevoking(token);
                              }}
                            >
                              {t("tokens.revoke")}
                            </button>
                          ) : null}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              {revoking ? (
                <RevokeTokenPanel
                  key={revoking.id}
                  token={revoking}
                  onCancel={() => setRevoking(null)}
                  onRevoked={(revoked) => {
                    setRevoking(null);
                    setDone(t("tokens.revoked.done", { name: revoked.name }));
                    reload();
                  }}
                />
              ) : null}
            </>
          )
        }
      </LoadedView>
      {done === null ? null : (
        <p role="status" class="ok">
          {done}
        </p>
      )}
    </section>
  );
}
