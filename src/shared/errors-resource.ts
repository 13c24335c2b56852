// The errors of the resources an endpoint acquires before the sync and releases after it
// (local/resources/: lvm+snapshot://, loop://, iscsi://), by their code in docs/errors.md. A spelling
// that cannot be one is exit 1 (nothing acquired); a program (lvm, losetup, iscsiadm) that fails is
// exit 2, and its own words follow. Raise one with basynError(CODE, ...) from errors.ts.

const ISCSI_FORM = 'expected iscsi://PORTAL[:PORT]/IQN[?lun=N&chap=FILE]';

export const RESOURCE_ERRORS = {
  // lvm+snapshot://VG/LV (lvm-snapshot.ts).
  LVM_URL: { code: 'ECONFIG', kind: 'usage', message: (endpoint: string) => `${endpoint}: expected lvm+snapshot://VG/LV (LVM names: letters, digits, + _ . -)` },
  LVM_UNKNOWN_PARAMETER: { code: 'ECONFIG', kind: 'usage', message: (endpoint: string, key: string) => `${endpoint}: unknown parameter '${key}' (size and name are known)` },
  LVM_SIZE_ZERO: { code: 'ECONFIG', kind: 'usage', message: (endpoint: string) => `${endpoint}: the snapshot size must be more than 0` },
  LVM_SNAPSHOT_NAME: { code: 'ECONFIG', kind: 'usage', message: (endpoint: string, name: string) => `${endpoint}: snapshot name '${name}' is not an LVM name (letters, digits, + _ . -; at most 100)` },
  LVM_SNAPSHOT_AS_TARGET: { code: 'ECONFIG', kind: 'usage', message: (endpoint: string) => `${endpoint}: an LVM snapshot can only be a SOURCE (it is read, then removed); name the logical volume itself as the TARGET` },
  /** `snapshot`: "snapshot VG/NAME of VG/LV"; `reason`: lvm's last line. */
  LVM_CREATE_FAILED: { code: 'ESNAPSHOT', kind: 'resource', message: (snapshot: string, reason: string) => `Could not create ${snapshot}: ${reason}` },
  LVM_DEVICE_UNKNOWN: { code: 'ESNAPSHOT', kind: 'resource', message: (snapshot: string, reason: string) => `Could not find the device of ${snapshot}: ${reason}` },
  LVM_REMOVE_FAILED: {
    code: 'ESNAPSHOTREMOVE', kind: 'resource',
    message: (snapshot: string, n: number, reason: string) => `Could not remove snapshot ${snapshot} after ${n} attempts: ${reason}; remove it with \`lvremove ${snapshot}\` (the next run of the task removes it too)`,
  },

  // loop://FILE (loop.ts).
  LOOP_URL: { code: 'ECONFIG', kind: 'usage', message: (endpoint: string) => `${endpoint}: expected loop://FILE (the image file to attach)` },
  LOOP_FILE: { code: 'ELOOPDEV', kind: 'resource', message: (endpoint: string, file: string, reason: string) => `${endpoint}: file ${file}: ${reason}` },
  LOOP_LIST_FAILED: { code: 'ELOOPDEV', kind: 'resource', message: (reason: string) => `Could not list loop devices: ${reason}` },
  LOOP_ATTACH_FAILED: { code: 'ELOOPDEV', kind: 'resource', message: (file: string, reason: string) => `Could not attach ${file} to a loop device: ${reason}` },
  LOOP_DETACH_FAILED: { code: 'ELOOPDETACH', kind: 'resource', message: (device: string, n: number, reason: string) => `Could not detach loop device ${device} after ${n} attempts: ${reason}; detach it with \`losetup -d ${device}\`` },
  LOOP_BUSY: { code: 'ELOOPBUSY', kind: 'resource', message: (endpoint: string, file: string, pid: number) => `${endpoint}: ${file} is attached by another basyn run (pid ${pid}); wait for it to end` },
  LOOP_BUSY_ELSEWHERE: { code: 'ELOOPBUSY', kind: 'resource', message: (endpoint: string, record: string, host: string) => `${endpoint}: record ${record} belongs to host ${host}` },
  LOOP_RECORD_NOT_OURS: { code: 'ELOOPBUSY', kind: 'resource', message: (endpoint: string, record: string, what: string) => `${endpoint}: ${record} is not a record basyn wrote (${what}); move it away` },
  LOOP_RECORD_UNREADABLE: { code: 'ELOOPBUSY', kind: 'resource', message: (record: string, reason: string) => `Loop device record ${record}: ${reason}` },

  // iscsi://PORTAL/IQN (iscsi-spec.ts, iscsi-chap.ts, iscsiadm.ts, iscsi.ts, iscsi-sessions.ts).
  /** `what`: "no target name (IQN) after the portal", "lun must be a number from 0 to 16383, got 'x'", ... */
  ISCSI_URL: { code: 'EISCSIURL', kind: 'usage', message: (endpoint: string, what: string) => `${endpoint}: ${what}; ${ISCSI_FORM}` },
  /** `what`: "can be read by others (mode 0644); chmod 600 FILE", "line 3: ...", or the system's reason. */
  ISCSI_CHAP_FILE: { code: 'EISCSICHAP', kind: 'usage', message: (file: string, what: string) => `CHAP file ${file}: ${what}` },
  ISCSIADM_MISSING: { code: 'EISCSIADM', message: () => 'iscsiadm not found (searched PATH): install open-iscsi (Debian: apt-get install open-iscsi) to use iscsi:// endpoints' },
  ISCSIADM_NOT_STARTED: { code: 'EISCSIADM', message: (reason: string) => `iscsiadm could not be started: ${reason}` },
  /** `after`: " (no answer in 60 s)" for basyn's own SIGKILL. */
  ISCSIADM_KILLED: { code: 'EISCSIADM', message: (command: string, signal: string, after = '') => `iscsiadm ${command} was killed by ${signal}${after}` },
  ISCSIADM_SESSIONS: { code: 'EISCSIADM', message: (reason: string) => `Could not list iSCSI sessions: ${reason}` },
  ISCSIADM_NODE_RECORD: { code: 'EISCSIADM', message: (iqn: string, portal: string, reason: string) => `Could not read the iSCSI node record of ${iqn} at ${portal}: ${reason}` },
  ISCSI_PORTAL_NO_ANSWER: { code: 'EISCSIPORTAL', message: (portal: string, reason: string) => `iSCSI portal ${portal} did not answer discovery: ${reason}` },
  ISCSI_PORTAL_UNRESOLVED: { code: 'EISCSIPORTAL', message: (portal: string, host: string) => `iSCSI portal ${portal}: cannot resolve ${host} (its address names the LUN's device)` },
  ISCSI_TARGET_NOT_OFFERED: { code: 'EISCSITARGET', message: (portal: string, iqn: string, names: string) => `iSCSI portal ${portal} does not offer target ${iqn} (it offers: ${names})` },
  ISCSI_NODE_CREATE_FAILED: { code: 'EISCSILOGIN', message: (iqn: string, portal: string, reason: string) => `Could not create the iSCSI node record of ${iqn} at ${portal}: ${reason}` },
  ISCSI_NODE_SETTING_FAILED: { code: 'EISCSILOGIN', message: (setting: string, iqn: string, portal: string, reason: string) => `Could not set ${setting} in the iSCSI node record of ${iqn} at ${portal}: ${reason}` },
  ISCSI_LOGIN_FAILED: { code: 'EISCSILOGIN', message: (iqn: string, portal: string, reason: string) => `iSCSI login to ${iqn} at ${portal} failed: ${reason}` },
  /** `session`: "logged out again", or "the session, not opened by basyn, is left logged in". */
  ISCSI_LUN_MISSING: {
    code: 'EISCSILUN',
    message: (iqn: string, portal: string, n: number, link: string, seconds: number, session: string) => `iSCSI target ${iqn} at ${portal}: LUN ${n} did not appear as ${link} within ${seconds} s (${session}); check the LUN number (?lun=N)`,
  },
  ISCSI_LOGOUT_FAILED: {
    code: 'EISCSILOGOUT',
    message: (iqn: string, portal: string, n: number, reason: string) => `Could not log out of iSCSI target ${iqn} at ${portal} after ${n} attempts: ${reason}; log out with: iscsiadm -m node -T ${iqn} -p ${portal} --logout`,
  },
  ISCSI_RUN_FOLDER: { code: 'EISCSILOCK', message: (folder: string, reason: string) => `iSCSI run folder ${folder}: ${reason}` },
  ISCSI_LOCK_FILE: { code: 'EISCSILOCK', message: (lock: string, reason: string) => `iSCSI lock ${lock}: ${reason}` },
  ISCSI_LOCK_NO_FLOCK: { code: 'EISCSILOCK', message: (lock: string, reason: string) => `Could not lock ${lock}: flock ${reason}` },
  /** `said`: " (flock's words)" or ''. */
  ISCSI_LOCK_TIMEOUT: { code: 'EISCSILOCK', message: (lock: string, seconds: number, said = '') => `Could not lock ${lock} within ${seconds} s: another basyn run is logging in to or out of this iSCSI target${said}` },
  ISCSI_RECORD_UNREADABLE: { code: 'EISCSILOCK', message: (record: string, reason: string) => `iSCSI session record ${record}: ${reason}` },
  ISCSI_RECORD_NOT_OURS: { code: 'EISCSILOCK', message: (record: string, what: string) => `iSCSI session record ${record} is not one basyn wrote (${what}); move it away` },
} as const;
