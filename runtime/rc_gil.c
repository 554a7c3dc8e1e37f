/* runtime/rc_gil.c - the `gil` backend: non-atomic counts under a global interpreter lock.
 *
 * Owns: the backend's start-up and shutdown.  The counts are rc_plain.c's; the lock is
 * sync/gil.c (taken on attach, dropped on detach and on request at safepoints); see
 * docs/backend-gil.md.  Containers need no per-object lock: only the GIL holder runs.
 */
#include "runtime/internal.h"

int _tally_rc_init(const tally_options *opt) { (void)opt; return 0; }
void _tally_rc_fini(void) {}
