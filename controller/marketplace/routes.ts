// REST routes of the site Marketplace: /v1/marketplace (list and search, show, publish), the public
// feed other sites replicate, the trust store (admin: add, list, revoke endorser keys) and the mirrors
// (admin: status, pull now).

import { Type } from '@sinclair/typebox';
import { NotFoundError } from '../../common/errors.ts';
import { Router } from 'express';
import { route } from '../api/route.ts';
import {
  MarketplaceId,
  MarketplaceItem,
  MarketplaceQuery,
  SignedEntry,
  TrustKey,
  TrustKeyRequest,
} from '../../protocol/marketplace.ts';
import type { Replicator } from './replicator.ts';
import type { MarketplaceService } from './service.ts';
import type { TrustStore } from './trust-store.ts';

export function marketplaceRoutes(d: {
  service: MarketplaceService;
  trust: TrustStore;
  replicator: Replicator;
  publicFeed: boolean;
  site: string;
}): Router {
  const r = Router();
  const tag = 'marketplace';

  route(
    r,
    {
      method: 'get',
      path: '/marketplace',
      summary: 'List or search Marketplace entries (status valid by default; os, arch, endorser, tag, q)',
      tag,
      role: 'user',
      query: MarketplaceQuery,
      response: Type.Object({ items: Type.Array(MarketplaceItem) }),
    },
    ({ query }) => ({ items: d.service.list(query) }),
  );

  route(
    r,
    {
      method: 'get',
      path: '/marketplace/feed',
      summary: 'Every entry with its signature, for other sites to replicate',
      tag,
      role: d.publicFeed ? 'public' : 'user',
      response: Type.Object({ site: Type.String(), items: Type.Array(SignedEntry) }),
    },
    () => ({ site: d.site, items: d.service.feed() }),
  );

  route(
    r,
    {
      method: 'post',
      path: '/marketplace',
      summary: 'Publish a signed entry (its key must be trusted by this site for the endorser e-mail)',
      tag,
      role: 'user',
      body: SignedEntry,
      response: MarketplaceItem,
      status: 201,
    },
    ({ body, principal }) => d.service.publish(body, principal.name),
  );

  route(
    r,
    {
      method: 'get',
      path: '/marketplace/trust',
      summary: 'List the endorser keys this site trusts (and those it revoked)',
      tag,
      role: 'admin',
      response: Type.Object({ items: Type.Array(TrustKey) }),
    },
    () => ({ items: d.trust.list() }),
  );

  route(
    r,
    {
      method: 'post',
      path: '/marketplace/trust',
      summary: 'Trust an endorser key for an e-mail address',
      tag,
      role: 'admin',
      body: TrustKeyRequest,
      response: TrustKey,
      status: 201,
    },
    ({ body, principal }) => d.trust.add(body.email, body.publicKey, body.comment ?? '', principal.name),
  );

  route(
    r,
    {
      method: 'post',
      path: '/marketplace/trust/revoke',
      summary: 'Revoke an endorser key: its entries are refused from now on (launch, publish, replication)',
      tag,
      role: 'admin',
      body: Type.Object(
        {
          fingerprint: Type.String({ maxLength: 64, pattern: '^SHA256:' }),
          reason: Type.Optional(Type.String({ maxLength: 256, pattern: '^[^\\x00-\\x1f]*$' })),
        },
        { additionalProperties: false },
      ),
      response: Type.Object({ items: Type.Array(TrustKey) }),
    },
    ({ body }) => ({ items: d.trust.revoke(body.fingerprint, body.reason ?? '') }),
  );

  route(
    r,
    {
      method: 'get',
      path: '/marketplace/mirrors',
      summary: 'The sites this one replicates, with the outcome of their last pull',
      tag,
      role: 'admin',
    },
    () => ({ items: d.replicator.mirrors() }),
  );

  route(
    r,
    {
      method: 'post',
      path: '/marketplace/mirrors/pull',
      summary: 'Pull every mirror now',
      tag,
      role: 'admin',
    },
    async () => {
      await d.replicator.pullAll();
      return { items: d.replicator.mirrors() };
    },
  );

  route(
    r,
    {
      method: 'get',
      path: '/marketplace/:id',
      summary: 'Show the entries held for a Marketplace id (one per endorser)',
      tag,
      role: 'user',
      params: Type.Object({ id: MarketplaceId }),
      response: Type.Object({ items: Type.Array(MarketplaceItem) }),
    },
    ({ params }) => {
      const items = d.service.show(params.id);
      if (items.length === 0) throw new NotFoundError('marketplace entry', params.id);
      return { items };
    },
  );
  return r;
}
