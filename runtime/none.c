/* runtime/none.c - the None object, and the start-up/shutdown of the built-in types.
 *
 * Owns: tally_none_type, the one statically allocated, immortal None, and
 * _tally_builtins_init/_tally_builtins_fini (None, the weakref table, the small-int cache).
 * None's header is (re)set by _tally_builtins_init() through _tally_static_object_init, which
 * marks it STATIC and immortal: no refcount write ever touches it and it is never freed.
 */
#include "runtime/internal.h"

const tally_type tally_none_type = {
    .name = "NoneType",
    .size = sizeof(tally_object),
    .flags = 0,
};

/* Zero-initialised until _tally_none_init(); the immortal count makes every incref/decref a no-op
 * even before then (the header is written once more by each tally_init, with the same values). */
static tally_object none_object = {
    .ob_ref_local = TALLY_IMMORTAL_REFCNT,
    .ob_tid = TALLY_RC_IMMORTAL_TID,   /* the atomic backend's immortal mark, else 0 */
    .ob_flags = TALLY_OBF_STATIC,
    .ob_type = &tally_none_type,
};

tally_object *tally_none(void)
{
    return &none_object;
}

void _tally_none_init(void)
{
    /* Idempotent: every field gets the value it already has after the first call, except the
     * scratch bits (ob_gc_bits: SHARED/WEAKREFS) that a previous runtime may have left. */
    _tally_static_object_init(&none_object, &tally_none_type);
}

int _tally_builtins_init(void)
{
    _tally_none_init();
    _tally_weakref_init();
    return _tally_int_init();
}

/* After the final collection, on the last attached thread. */
void _tally_builtins_fini(void)
{
    _tally_int_fini();
    _tally_weakref_fini();
}
