/* tally/static/rc_gil.h - inline refcount fast path of the `gil` backend.
 *
 * Owns: the gil backend's traits (runtime/internal.h, "backend traits").  The counts are the
 * plain ones of tally/static/rc_plain.h (shared with `racy`), ordered by the GIL (sync/gil.c).
 */
#ifndef TALLY_STATIC_RC_GIL_H
#define TALLY_STATIC_RC_GIL_H

#define TALLY_RC_GIL 1   /* threads run Tally code one at a time, under sync/gil.c */

#include <tally/static/rc_plain.h>

#endif
