/* runtime/str.c - strings.
 *
 * Owns: tally_str_type (immutable NUL-terminated byte strings, not GC) and the str side of dict
 * keys (cached hash, value equality).  Short strings live inside the object; longer ones in a
 * separate mimalloc block.  Everything is written before the object is published and never
 * again, so readers need no synchronisation beyond the publication itself.
 *
 * Lifetime of the bytes: a lock-free dict reader (runtime/dict.c) may compare a key's bytes
 * after another thread removed that key and dropped its last reference.  The object itself is
 * then freed through QSBR (object.c: its SHARED bit was set when it was stored), and so are
 * out-of-line bytes here: destroy hands them to _tally_free_delayed() when SHARED is set.
 */
#include "runtime/internal.h"

#include <mimalloc.h>
#include <string.h>

#define STR_INLINE 24   /* bytes kept inside the object, NUL included */

typedef struct tally_str {
    TALLY_OBJECT_HEAD;
    size_t len;
    uint64_t hash;
    char *data;               /* == inline_data for short strings */
    char inline_data[STR_INLINE];
} tally_str;

static void str_destroy(tally_object *self);

const tally_type tally_str_type = {
    .name = "str",
    .size = sizeof(tally_str),
    .flags = 0,
    .destroy = str_destroy,
};

static inline bool is_str(tally_object *o)
{
    return o && o->ob_type == &tally_str_type;
}

/* FNV-1a over the bytes, then a multiply-xorshift so the low bits (the table index) depend on
 * every byte. */
static uint64_t str_hash_bytes(const char *s, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(0x100000001b3);
    }
    h ^= h >> 32;
    h *= UINT64_C(0xd6e8feb86659fd93);
    h ^= h >> 32;
    return h;
}

tally_object *tally_str_new(const char *s)
{
    if (!s) {
        _tally_set_error("tally_str_new: NULL string");
        return NULL;
    }
    size_t n = strlen(s);
    char *data = NULL;
    if (n >= STR_INLINE) {
        data = mi_malloc(n + 1);
        if (!data) {
            _tally_set_error("tally_str_new: out of memory for %zu bytes", n + 1);
            return NULL;
        }
    }
    tally_str *o = (tally_str *)tally_new(&tally_str_type);
    if (!o) {
        mi_free(data);
        return NULL;
    }
    o->data = data ? data : o->inline_data;
    memcpy(o->data, s, n + 1);
    o->len = n;
    o->hash = str_hash_bytes(s, n);
    return &o->ob_base;
}

const char *tally_str_value(tally_object *o)
{
    if (tally_unlikely(!is_str(o))) {
        _tally_misuse(o, "tally_str_value: not a str");
        return NULL;
    }
    return ((tally_str *)o)->data;
}

size_t tally_str_len(tally_object *o)
{
    if (tally_unlikely(!is_str(o))) {
        _tally_misuse(o, "tally_str_len: not a str");
        return 0;
    }
    return ((tally_str *)o)->len;
}

uint64_t tally_str_hash(tally_object *o)
{
    if (tally_unlikely(!is_str(o))) {
        _tally_misuse(o, "tally_str_hash: not a str");
        return 0;
    }
    return ((tally_str *)o)->hash;
}

static void str_destroy(tally_object *self)
{
    tally_str *s = (tally_str *)self;
    if (s->data != s->inline_data) {
        if (tally_atomic_load_relaxed(&self->ob_gc_bits) & TALLY_GC_BIT_SHARED)
            _tally_free_delayed(s->data);   /* a lock-free dict reader may still compare them */
        else
            mi_free(s->data);
    }
    /* s->data stays as it is: a late reader (see above) still follows it. */
}

uint64_t _tally_str_hash(tally_object *o)
{
    return ((tally_str *)o)->hash;
}

bool _tally_str_equal(tally_object *a, tally_object *b)
{
    tally_str *x = (tally_str *)a, *y = (tally_str *)b;
    return x->hash == y->hash && x->len == y->len && memcmp(x->data, y->data, x->len) == 0;
}
