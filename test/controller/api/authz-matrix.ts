// The authorization matrix of the REST API: every route × every kind of caller, with the status each must
// get, checked against a real controller by authz.test.ts and by `npm run bench -- fuzz`. A route added
// to the API without a row here fails authz.test.ts; a new kind of caller is a new column in CALLERS
// (test/helpers/fuzz/authz.ts) and one more number per row.
//
// Columns: anonymous (no token), a bad token, user A (owns {vm}, {image}, {volume}), user B, admin.
// Bodies: a request with a body is sent with an invalid one ({"__invalid": 1}) unless the row gives a
// valid one, so an allowed caller gets 400 from the validator and nothing changes; that still proves the
// caller got past authentication and the role check. Ownership is checked by rows without a body or with
// a valid one: another user's resource is a 404 on reads and a 403 on actions. {x!} is a fresh resource
// per cell (see authz.ts). Statuses:
//   401 no or bad credentials; 403 role or ownership refused; 404 not found (or not yours to see);
//   400 invalid body; 409 wrong state (a pending VM that has no host).
import { type MatrixRow, row } from '../../helpers/fuzz/authz.ts';

const X = { __invalid: 1 };
/** A capability query that is well-formed but not signed by this controller. */
const CAP = `host=fuzz-host&exp=${Math.floor(Date.now() / 1000) + 3600}&token=${'0'.repeat(64)}`;

// biome-ignore format: one row per line, the statuses in columns
export const MATRIX: MatrixRow[] = [
  //  operation                                         url                                     body        anon bad  A    B    admin
  row('GET /v1/keys',                                   '/v1/keys',                             undefined,  401, 401, 200, 200, 200),
  row('POST /v1/keys',                                  '/v1/keys',                             X,          401, 401, 400, 400, 400),
  row('GET /v1/keys/{name}',                            '/v1/keys/no-such-key',                 undefined,  401, 401, 404, 404, 404),
  row('POST /v1/keys/{name}/default',                   '/v1/keys/no-such-key/default',         undefined,  401, 401, 404, 404, 404),
  row('DELETE /v1/keys/{name}',                         '/v1/keys/no-such-key',                 undefined,  401, 401, 404, 404, 404),

  row('GET /v1/images',                                 '/v1/images',                           undefined,  401, 401, 200, 200, 200),
  row('POST /v1/images',                                '/v1/images',                           X,          401, 401, 400, 400, 400),
  { ...row('POST /v1/images/upload',                    '/v1/images/upload',                    undefined,  401, 401, 400, 400, 400), raw: 'not an image' },
  row('GET /v1/images/{id}',                            '/v1/images/{image}',                   undefined,  401, 401, 200, 404, 200),
  row('DELETE /v1/images/{id}',                         '/v1/images/{image!}',                  undefined,  401, 401, 204, 404, 204),
  // capability URLs: a bearer token is no substitute for the URL's own token (the bad one is refused first)
  { ...row('PUT /v1/images/{id}/content',               `/v1/images/{image}/content?${CAP}`,    undefined,  403, 401, 403, 403, 403), raw: 'x' },
  row('GET /v1/images/{id}/content',                    `/v1/images/{image}/content?${CAP}`,    undefined,  403, 401, 403, 403, 403),

  row('GET /v1/vms/{id}/snapshots',                     '/v1/vms/{vm}/snapshots',               undefined,  401, 401, 409, 404, 409),
  row('POST /v1/vms/{id}/snapshots',                    '/v1/vms/{vm}/snapshots',               X,          401, 401, 400, 400, 400),
  row('POST /v1/vms/{id}/snapshots/{name}/revert',      '/v1/vms/{vm}/snapshots/s1/revert',     X,          401, 401, 400, 400, 400),
  row('DELETE /v1/vms/{id}/snapshots/{name}',           '/v1/vms/{vm}/snapshots/s1',            undefined,  401, 401, 409, 403, 409),
  row('POST /v1/vms/{id}/save-as',                      '/v1/vms/{vm}/save-as',                 X,          401, 401, 400, 400, 400),

  row('GET /v1/vms',                                    '/v1/vms',                              undefined,  401, 401, 200, 200, 200),
  row('POST /v1/vms',                                   '/v1/vms',                              X,          401, 401, 400, 400, 400),
  row('GET /v1/vms/{id}',                               '/v1/vms/{vm}',                         undefined,  401, 401, 200, 404, 200),
  row('POST /v1/vms/{id}/start',                        '/v1/vms/{vm!}/start',                  undefined,  401, 401, 409, 403, 409),
  row('POST /v1/vms/{id}/stop',                         '/v1/vms/{vm!}/stop',                   {},         401, 401, 409, 403, 409),
  row('POST /v1/vms/{id}/reboot',                       '/v1/vms/{vm!}/reboot',                 undefined,  401, 401, 409, 403, 409),
  row('GET /v1/vms/{id}/console',                       '/v1/vms/{vm}/console',                 undefined,  401, 401, 409, 404, 409),
  row('DELETE /v1/vms/{id}',                            '/v1/vms/{vm!}',                        undefined,  401, 401, 204, 403, 204),

  row('POST /v1/hosts',                                 '/v1/hosts',                            X,          401, 401, 403, 403, 400),
  row('POST /v1/hosts/{id}/revoke',                     '/v1/hosts/no-such-host/revoke',        undefined,  401, 401, 403, 403, 404),
  row('POST /v1/hosts/{id}/evacuate',                   '/v1/hosts/no-such-host/evacuate',      undefined,  401, 401, 403, 403, 404),
  // enrolment: public, the one-time join token in the body is the credential
  row('POST /v1/join',                                  '/v1/join',                             X,          400, 401, 400, 400, 400),
  row('POST /v1/vms/{id}/migrate',                      '/v1/vms/{vm}/migrate',                 X,          401, 401, 403, 403, 400),
  row('POST /v1/vms/{id}/migrate/cancel',               '/v1/vms/{vm}/migrate/cancel',          undefined,  401, 401, 403, 403, 409),
  row('GET /v1/audit',                                  '/v1/audit',                            undefined,  401, 401, 403, 403, 200),

  row('GET /v1/marketplace',                            '/v1/marketplace',                      undefined,  401, 401, 200, 200, 200),
  row('POST /v1/marketplace',                           '/v1/marketplace',                      X,          401, 401, 400, 400, 400),
  // the feed other sites replicate: public by default ([marketplace] public_feed)
  row('GET /v1/marketplace/feed',                       '/v1/marketplace/feed',                 undefined,  200, 401, 200, 200, 200),
  row('GET /v1/marketplace/trust',                      '/v1/marketplace/trust',                undefined,  401, 401, 403, 403, 200),
  row('POST /v1/marketplace/trust',                     '/v1/marketplace/trust',                X,          401, 401, 403, 403, 400),
  row('POST /v1/marketplace/trust/revoke',              '/v1/marketplace/trust/revoke',         X,          401, 401, 403, 403, 400),
  row('GET /v1/marketplace/mirrors',                    '/v1/marketplace/mirrors',              undefined,  401, 401, 403, 403, 200),
  row('POST /v1/marketplace/mirrors/pull',              '/v1/marketplace/mirrors/pull',         undefined,  401, 401, 403, 403, 200),
  row('GET /v1/marketplace/{id}',                       `/v1/marketplace/${'A'.repeat(43)}`,    undefined,  401, 401, 404, 404, 404),

  row('GET /v1/hosts',                                  '/v1/hosts',                            undefined,  401, 401, 200, 200, 200),
  row('GET /v1/hosts/{id}',                             '/v1/hosts/no-such-host',               undefined,  401, 401, 404, 404, 404),
  row('POST /v1/hosts/{id}/enable',                     '/v1/hosts/no-such-host/enable',        undefined,  401, 401, 403, 403, 404),
  row('POST /v1/hosts/{id}/disable',                    '/v1/hosts/no-such-host/disable',       {},         401, 401, 403, 403, 404),
  row('PATCH /v1/hosts/{id}',                           '/v1/hosts/no-such-host',               {},         401, 401, 403, 403, 404),

  row('GET /v1/types',                                  '/v1/types',                            undefined,  401, 401, 200, 200, 200),
  row('POST /v1/types',                                 '/v1/types',                            X,          401, 401, 403, 403, 400),
  row('DELETE /v1/types/{name}',                        '/v1/types/{type!}',                    undefined,  401, 401, 403, 403, 204),

  row('GET /v1/users/me',                               '/v1/users/me',                         undefined,  401, 401, 200, 200, 200),
  row('GET /v1/users',                                  '/v1/users',                            undefined,  401, 401, 403, 403, 200),
  row('POST /v1/users',                                 '/v1/users',                            X,          401, 401, 403, 403, 400),
  row('PUT /v1/users/{id}/quota',                       '/v1/users/{userB}/quota',              X,          401, 401, 403, 403, 400),

  row('GET /v1/networks',                               '/v1/networks',                         undefined,  401, 401, 200, 200, 200),
  row('POST /v1/networks',                              '/v1/networks',                         X,          401, 401, 403, 403, 400),
  row('GET /v1/networks/{id}',                          '/v1/networks/{network}',               undefined,  401, 401, 200, 200, 200),
  row('PATCH /v1/networks/{id}',                        '/v1/networks/{network}',               X,          401, 401, 403, 403, 400),
  row('DELETE /v1/networks/{id}',                       '/v1/networks/{network!}',              undefined,  401, 401, 403, 403, 204),
  row('GET /v1/networks/{id}/leases',                   '/v1/networks/{network}/leases',        undefined,  401, 401, 403, 403, 200),
  row('POST /v1/networks/{id}/leases',                  '/v1/networks/{network}/leases',        X,          401, 401, 403, 403, 400),
  row('DELETE /v1/networks/{id}/leases/{lease}',        '/v1/networks/{network}/leases/no-such-lease', undefined, 401, 401, 403, 403, 404),
  row('POST /v1/networks/{id}/holds',                   '/v1/networks/{network}/holds',         X,          401, 401, 403, 403, 400),
  row('GET /v1/networks/{id}/holds',                    '/v1/networks/{network}/holds',         undefined,  401, 401, 403, 403, 200),

  row('POST /v1/context',                               '/v1/context',                          X,          401, 401, 403, 403, 400),
  row('GET /v1/context/{vmId}.iso',                     '/v1/context/{vm}.iso?token=0000',      undefined,  403, 401, 403, 403, 403),

  row('GET /v1/volumes',                                '/v1/volumes',                          undefined,  401, 401, 200, 200, 200),
  row('POST /v1/volumes',                               '/v1/volumes',                          X,          401, 401, 400, 400, 400),
  row('GET /v1/volumes/{id}',                           '/v1/volumes/{volume}',                 undefined,  401, 401, 200, 404, 200),
  row('POST /v1/volumes/{id}/attach',                   '/v1/volumes/{volume}/attach',          X,          401, 401, 400, 400, 400),
  row('POST /v1/volumes/{id}/detach',                   '/v1/volumes/{volume}/detach',          X,          401, 401, 400, 400, 400),
  row('DELETE /v1/volumes/{id}',                        '/v1/volumes/{volume!}',                undefined,  401, 401, 204, 404, 204),
  row('GET /v1/volume-quota',                           '/v1/volume-quota',                     undefined,  401, 401, 200, 200, 200),
  row('PUT /v1/volume-quotas/{ownerId}',                '/v1/volume-quotas/{userB}',            X,          401, 401, 403, 403, 400),

  // outside the OpenAPI document
  row('GET /v1/health',                                 '/v1/health',                           undefined,  200, 200, 200, 200, 200),
  row('GET /v1/openapi.json',                           '/v1/openapi.json',                     undefined,  200, 200, 200, 200, 200),
  // the dashboard page and its assets are public; what it shows needs a login
  // Prometheus: an admin token or the [metrics] token
  row('GET /metrics',                                   '/metrics',                             undefined,  401, 401, 401, 401, 200),
  row('GET /dashboard/',                                '/dashboard/',                          undefined,  200, 200, 200, 200, 200),
  // the page itself is public; its broker account is issued to a signed-in user only (short-lived, read-only)
  row('GET /dashboard/config.json',                     '/dashboard/config.json',               undefined,  401, 401, 200, 200, 200),
];
