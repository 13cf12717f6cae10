// REST routes for a user's SSH keys (mounted under /v1): list, add, show, delete, make default. Every
// route works on the caller's own keys only: another user's key of the same name is a 404, for admins
// too (keys are personal; VMs are created with their owner's keys).

import { Type } from '@sinclair/typebox';
import { Router } from 'express';
import { AddKeyRequest, KeyName, SshKeyView } from '../../protocol/keys.ts';
import { route } from '../api/route.ts';
import type { KeyStore } from './store.ts';

const Name = Type.Object({ name: KeyName });

export function keyRoutes(keys: KeyStore): Router {
  const r = Router();
  route(
    r,
    {
      method: 'get',
      path: '/keys',
      summary: 'List your SSH public keys with their fingerprints',
      tag: 'keys',
      role: 'user',
      response: Type.Object({ items: Type.Array(SshKeyView) }),
    },
    ({ principal }) => ({ items: keys.list(principal.id) }),
  );
  route(
    r,
    {
      method: 'post',
      path: '/keys',
      summary: 'Add an OpenSSH public key (ed25519, ECDSA, RSA of 2048 bits or more)',
      tag: 'keys',
      role: 'user',
      body: AddKeyRequest,
      response: SshKeyView,
      status: 201,
    },
    ({ principal, body }) => keys.add(principal.id, body.name, body.publicKey, body.default === true),
  );
  route(
    r,
    {
      method: 'get',
      path: '/keys/:name',
      summary: 'Show one of your keys',
      tag: 'keys',
      role: 'user',
      params: Name,
      response: SshKeyView,
    },
    ({ principal, params }) => keys.get(principal.id, params.name),
  );
  route(
    r,
    {
      method: 'post',
      path: '/keys/:name/default',
      summary: 'Make a key your default (VMs created without --key get it)',
      tag: 'keys',
      role: 'user',
      params: Name,
      response: SshKeyView,
    },
    ({ principal, params }) => keys.setDefault(principal.id, params.name),
  );
  route(
    r,
    {
      method: 'delete',
      path: '/keys/:name',
      summary: 'Delete one of your keys',
      tag: 'keys',
      role: 'user',
      params: Name,
    },
    ({ principal, params }) => {
      keys.delete(principal.id, params.name);
    },
  );
  return r;
}
