/**
 * Which mail servers receive a ban (`scope =` of jail.conf, as its reader
 * returns it): every host, the hosts the failures were seen on, or one
 * fleet.conf group. src/fleet/ alone turns a scope into hosts.
 */
export { formatScope, parseScope, type Scope } from '../config/jail-config.js';
