// The version and build id both bundles carry (scripts/build.mjs defines BASYN_VERSION and
// BASYN_BUILD_ID, a digest of src/), so the handshake can tell a stale agent from the right one. Code
// run from source (tests under tsx) has no defines: controller and in-process agent then agree on
// 'source'.
declare const BASYN_BUILD_ID: string | undefined;
declare const BASYN_VERSION: string | undefined;

export const BUILD_ID: string = typeof BASYN_BUILD_ID === 'string' ? BASYN_BUILD_ID : 'source';
export const VERSION: string = typeof BASYN_VERSION === 'string' ? BASYN_VERSION : 'source';
