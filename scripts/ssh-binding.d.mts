// Types of scripts/ssh-binding.mjs, for scripts/bench-build.ts.
import type { Plugin } from 'esbuild';
export const SSH_BINDING_NAME: string;
export function builtSshBinding(root: string): string;
export const sshBindingPlugin: Plugin;
export function placeSshBinding(root: string, outDir: string): boolean;
