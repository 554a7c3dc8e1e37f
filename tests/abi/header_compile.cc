/* tests/abi/header_compile.cc - the public headers as a user's C and C++ compiler sees them.
 *
 * Owns: one program compiled twice per backend, as C++17 and (copied to a .c file by
 * tests/install.cmake) as strict ISO C11, with -Wall -Wextra -Werror (C also -Wpedantic).  It
 * pins the object header layout that every libtally-<backend> shares (offsets from
 * include/tally/object.h), checks that the user-visible macros work in both languages
 * (TALLY_OBJECT_HEAD, TALLY_OPTIONS_INIT, the inline incref/decref/xincref/xdecref/newref of
 * the backend selected by TALLY_BACKEND_<NAME>, TALLY_BEGIN/END_ALLOW_THREADS), and that the
 * linked library agrees with the headers (backend name, version).  Exits nonzero on a mismatch.
 */
#include <tally/tally.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
#  define ABI_STATIC_ASSERT(c, m) static_assert(c, m)
#  define ABI_LANG "C++"
#else
#  define ABI_STATIC_ASSERT(c, m) _Static_assert(c, m)
#  define ABI_LANG "C"
#endif

/* The layout table of include/tally/object.h (64-bit). */
ABI_STATIC_ASSERT(sizeof(void *) != 8 || sizeof(tally_object) == 32, "object header is 32 bytes");
ABI_STATIC_ASSERT(sizeof(void *) != 8 || offsetof(tally_object, ob_tid) == 0, "ob_tid at 0");
ABI_STATIC_ASSERT(sizeof(void *) != 8 || offsetof(tally_object, ob_ref_local) == 8, "ob_ref_local at 8");
ABI_STATIC_ASSERT(sizeof(void *) != 8 || offsetof(tally_object, ob_mutex) == 12, "ob_mutex at 12");
ABI_STATIC_ASSERT(sizeof(void *) != 8 || offsetof(tally_object, ob_gc_bits) == 13, "ob_gc_bits at 13");
ABI_STATIC_ASSERT(sizeof(void *) != 8 || offsetof(tally_object, ob_flags) == 14, "ob_flags at 14");
ABI_STATIC_ASSERT(sizeof(void *) != 8 || offsetof(tally_object, ob_ref_shared) == 16, "ob_ref_shared at 16");
ABI_STATIC_ASSERT(sizeof(void *) != 8 || offsetof(tally_object, ob_type) == 24, "ob_type at 24");
ABI_STATIC_ASSERT(offsetof(tally_options, size) == 0, "tally_options starts with its size");
ABI_STATIC_ASSERT(TALLY_IMMORTAL_REFCNT == UINT32_MAX, "immortal count");
ABI_STATIC_ASSERT(TALLY_GC_DEBUG_SAVEALL == 32 && TALLY_GC_DEBUG_LEAK == 38, "gc debug flags as CPython");
ABI_STATIC_ASSERT(TALLY_VERSION == TALLY_VERSION_MAJOR * 10000 + TALLY_VERSION_MINOR * 100 + TALLY_VERSION_PATCH,
                  "version encoding");

typedef struct {
    TALLY_OBJECT_HEAD;
    int value;
} abi_box;

ABI_STATIC_ASSERT(offsetof(abi_box, value) >= sizeof(tally_object), "user fields follow the header");

static int abi_destroyed;
static void abi_box_destroy(tally_object *self)
{
    (void)self;
    abi_destroyed++;
}
static const tally_type abi_box_type = {"AbiBox", sizeof(abi_box), 0, NULL, NULL, NULL, NULL, abi_box_destroy};

static int abi_failures;
#define ABI_CHECK(cond)                                                                      \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "abi (%s): check failed at line %d: %s (last error: '%s')\n",     \
                    ABI_LANG, __LINE__, #cond, tally_last_error());                          \
            abi_failures++;                                                                  \
        }                                                                                    \
    } while (0)

/* The backend this translation unit was compiled for: tally/backends.h (generated from the
 * build's list) names it for the TALLY_BACKEND_<NAME> that the tally::<backend> target defines. */
static const char *abi_compiled_backend(void)
{
#if defined(TALLY_COMPILED_BACKEND)
    return TALLY_COMPILED_BACKEND;
#else
    return "";
#endif
}

int main(void)
{
    tally_options opt = TALLY_OPTIONS_INIT;
    ABI_CHECK(opt.size == sizeof(tally_options));
    if (tally_init(&opt) != 0) {
        fprintf(stderr, "abi (%s): tally_init failed: %s\n", ABI_LANG, tally_last_error());
        return 1;
    }
    ABI_CHECK(strcmp(tally_backend(), abi_compiled_backend()) == 0);
    const char *want = getenv("TALLY_EXPECT_BACKEND");
    ABI_CHECK(want == NULL || strcmp(tally_backend(), want) == 0);
    ABI_CHECK(strcmp(tally_version(), TALLY_VERSION_STRING) == 0);

    abi_box *b = (abi_box *)tally_new(&abi_box_type);
    ABI_CHECK(b != NULL);
    if (!b)
        return 1;
    tally_object *o = &b->ob_base;
    ABI_CHECK(b->value == 0);
    ABI_CHECK(tally_type_of(o) == &abi_box_type);

    /* The inline fast paths (macros) of the backend this file was compiled for. */
    tally_incref(o);
    tally_xincref(o);
    tally_object *r = tally_newref(o);
    ABI_CHECK(r == o);
    tally_flush();
    ABI_CHECK(tally_refcount(o) == 4);
    tally_decref(r);
    tally_xdecref(o);
    tally_decref(o);
    tally_xincref(NULL);
    tally_xdecref(NULL);
    tally_flush();
    ABI_CHECK(tally_refcount(o) == 1);
    ABI_CHECK(abi_destroyed == 0);

    /* The exported functions behind the macros. */
    (tally_incref)(o);
    (tally_decref)(o);
    tally_flush();
    ABI_CHECK(tally_refcount(o) == 1);

    bool inside = true;
    TALLY_BEGIN_ALLOW_THREADS
    inside = tally_thread_is_attached();
    TALLY_END_ALLOW_THREADS
    ABI_CHECK(!inside);
    ABI_CHECK(tally_thread_is_attached());

    tally_decref(o);
    tally_flush();
    ABI_CHECK(abi_destroyed == 1);
    ABI_CHECK(tally_is_immortal(tally_none()));
    ABI_CHECK(tally_gc_collect(0) >= 0);
    tally_fini();
    if (abi_failures)
        return 1;
    printf("abi: %s headers, backend %s, version %s: ok\n", ABI_LANG, abi_compiled_backend(), TALLY_VERSION_STRING);
    return 0;
}
