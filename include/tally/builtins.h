/* tally/builtins.h - the built-in object types: ints, strings, tuples, lists, dicts, weakrefs.
 *
 * Owns: their public API.  Implemented in runtime/int.c, str.c, tuple.c, list.c, dict.c,
 * weakref.c.  Results are new references unless marked borrowed.  Container operations are
 * safe from several attached threads in every backend but `racy`.
 */
#ifndef TALLY_BUILTINS_H
#define TALLY_BUILTINS_H

#include <tally/object.h>

#ifdef __cplusplus
extern "C" {
#endif

TALLY_API extern const tally_type tally_int_type;
TALLY_API extern const tally_type tally_str_type;
TALLY_API extern const tally_type tally_tuple_type;
TALLY_API extern const tally_type tally_list_type;
TALLY_API extern const tally_type tally_dict_type;
TALLY_API extern const tally_type tally_weakref_type;
TALLY_API extern const tally_type tally_none_type;

/* ints: -5..256 are cached and immortal */
TALLY_API tally_object *tally_int_new(int64_t v);
TALLY_API int64_t tally_int_value(tally_object *o);

/* strings (immutable, NUL-terminated copies) */
TALLY_API tally_object *tally_str_new(const char *s);
TALLY_API const char *tally_str_value(tally_object *o);
/* Its length in bytes and the hash computed once at creation (equal strings hash equally), so a
 * language runtime does not walk the bytes again for len(), indexing or a dict lookup.  Not a
 * str: 0, with a misuse error. */
TALLY_API size_t tally_str_len(tally_object *o);
TALLY_API uint64_t tally_str_hash(tally_object *o);

/* tuples: increfs items; items may be NULL only while building (see tally_tuple_new) */
TALLY_API tally_object *tally_tuple_new(size_t n, tally_object *const *items);
TALLY_API tally_object *tally_tuple_get(tally_object *t, size_t i);   /* borrowed */
TALLY_API size_t tally_tuple_len(tally_object *t);

/* lists */
TALLY_API tally_object *tally_list_new(void);
TALLY_API int tally_list_append(tally_object *l, tally_object *o);    /* 0 / -1 */
TALLY_API tally_object *tally_list_get(tally_object *l, size_t i);    /* NULL if out of range */
TALLY_API int tally_list_set(tally_object *l, size_t i, tally_object *o); /* -1 if out of range */
TALLY_API tally_object *tally_list_pop(tally_object *l);              /* NULL if empty */
TALLY_API size_t tally_list_len(tally_object *l);
TALLY_API int tally_list_clear(tally_object *l);

/* dicts: int and str keys compare by value, other keys by identity */
TALLY_API tally_object *tally_dict_new(void);
TALLY_API int tally_dict_set(tally_object *d, tally_object *k, tally_object *v);
TALLY_API tally_object *tally_dict_get(tally_object *d, tally_object *k); /* NULL if absent */
TALLY_API int tally_dict_del(tally_object *d, tally_object *k);       /* -1 if absent */
TALLY_API size_t tally_dict_len(tally_object *d);

/* weak references */
typedef void (*tally_weakref_callback)(tally_object *wr, void *arg);
TALLY_API tally_object *tally_weakref_new(tally_object *target, tally_weakref_callback cb, void *arg);
TALLY_API tally_object *tally_weakref_get(tally_object *wr);          /* NULL once dead */

#ifdef __cplusplus
}
#endif
#endif
