/* tally/static/rc_racy.h - inline refcount fast path of the `racy` backend (negative control).
 *
 * Owns: nothing of its own: the plain counts of tally/static/rc_plain.h with no lock at all, and
 * the default of every backend trait (runtime/internal.h, "backend traits").
 */
#ifndef TALLY_STATIC_RC_RACY_H
#define TALLY_STATIC_RC_RACY_H

#include <tally/static/rc_plain.h>

#endif
