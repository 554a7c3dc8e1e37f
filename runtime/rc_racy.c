/* runtime/rc_racy.c - the `racy` backend: plain counts, no lock at all.
 *
 * Owns: the backend's start-up and shutdown.  This is the negative control of the stress
 * harness: concurrent increments and decrements lose updates, objects die early or never.
 * It is built and tested (single-threaded suites) but never installed for users.  The
 * collector still stops the world (sync/stw.c) so single-threaded semantics hold.
 */
#include "runtime/internal.h"

int _tally_rc_init(const tally_options *opt) { (void)opt; return 0; }
void _tally_rc_fini(void) {}
