// tests/core/test_refcount.cc - conformance of the refcounting entry points, per backend.
//
// Owns: the observable refcount contract of the public API: a new object has count 1,
// incref/decref/xincref/xdecref/newref move it by exactly one, destroy runs exactly once when
// the count reaches zero (and releases what the object referenced), tally_type_of, and the
// identity of the build (tally_backend, version macros, tally_version).  Both the inline fast
// paths (macros) and the exported functions (called as `(tally_incref)(o)`) are exercised.
// Under `deferred` decrements apply lazily: tally_flush() comes before every exact assertion.
#include "tally_test.h"

#include <cstdio>
#include <set>
#include <string>
#include <vector>

namespace {

// A non-GC type: counts destructions, records the destroyed addresses.
struct Plain {
    TALLY_OBJECT_HEAD;
    int payload;
    std::vector<tally_object *> *graveyard;
};

void plain_destroy(tally_object *self)
{
    auto *p = reinterpret_cast<Plain *>(self);
    if (p->graveyard)
        p->graveyard->push_back(self);
}

const tally_type plain_type = {"RefcountPlain", sizeof(Plain), 0, nullptr, nullptr, nullptr, nullptr, plain_destroy};

Plain *plain_new(std::vector<tally_object *> *graveyard)
{
    auto *p = reinterpret_cast<Plain *>(tally_new(&plain_type));
    if (p)
        p->graveyard = graveyard;
    return p;
}

// A GC container holding up to 4 strong references; destroy releases them.
struct Holder {
    TALLY_OBJECT_HEAD;
    tally_object *slot[4];
    int *destroyed;
};

int holder_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    auto *h = reinterpret_cast<Holder *>(self);
    for (tally_object *o : h->slot)
        if (o) {
            int r = visit(o, arg);
            if (r)
                return r;
        }
    return 0;
}
int holder_clear(tally_object *self)
{
    auto *h = reinterpret_cast<Holder *>(self);
    for (tally_object *&o : h->slot) {
        tally_object *tmp = o;
        o = nullptr;
        tally_xdecref(tmp);
    }
    return 0;
}
void holder_destroy(tally_object *self)
{
    auto *h = reinterpret_cast<Holder *>(self);
    if (h->destroyed)
        ++*h->destroyed;
    holder_clear(self);
}
const tally_type holder_type = {"RefcountHolder", sizeof(Holder), TALLY_TYPE_GC, holder_traverse, holder_clear,
                                nullptr, nullptr, holder_destroy};

intptr_t rc(tally_object *o)
{
    tally_flush();
    return tally_refcount(o);
}

} // namespace

TEST(Refcount, NewObjectHasCountOneAndZeroedBody)
{
    std::vector<tally_object *> dead;
    tally_object *o = tally_new(&plain_type);
    ASSERT_NE(o, nullptr) << tally_last_error();
    auto *p = reinterpret_cast<Plain *>(o);
    EXPECT_EQ(p->payload, 0);
    EXPECT_EQ(p->graveyard, nullptr);
    EXPECT_EQ(rc(o), 1);
    EXPECT_EQ(tally_type_of(o), &plain_type);
    EXPECT_FALSE(tally_is_immortal(o));
    p->graveyard = &dead;
    tally_decref(o);
    tally_flush();
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0], o);
}

TEST(Refcount, IncrefDecrefMoveByExactlyOne)
{
    std::vector<tally_object *> dead;
    Plain *p = plain_new(&dead);
    ASSERT_NE(p, nullptr);
    tally_object *o = &p->ob_base;
    for (int i = 0; i < 1000; i++)
        tally_incref(o);
    EXPECT_EQ(rc(o), 1001);
    for (int i = 0; i < 500; i++)
        tally_decref(o);
    EXPECT_EQ(rc(o), 501);
    EXPECT_TRUE(dead.empty());
    for (int i = 0; i < 500; i++)
        tally_decref(o);
    EXPECT_EQ(rc(o), 1);
    EXPECT_TRUE(dead.empty()) << "destroyed while a reference was still held";
    tally_decref(o);
    tally_flush();
    EXPECT_EQ(dead.size(), 1u);
}

TEST(Refcount, ExportedFunctionsMatchInlineFastPath)
{
    // (f)(x) calls the exported function even where f is also a function-like macro.
    std::vector<tally_object *> dead;
    Plain *p = plain_new(&dead);
    ASSERT_NE(p, nullptr);
    tally_object *o = &p->ob_base;
    (tally_incref)(o);
    (tally_incref)(o);
    EXPECT_EQ(rc(o), 3);
    tally_incref(o);
    (tally_decref)(o);
    EXPECT_EQ(rc(o), 3);
    EXPECT_EQ((tally_newref)(o), o);
    EXPECT_EQ(rc(o), 4);
    (tally_xincref)(o);
    (tally_xdecref)(o);
    EXPECT_EQ(rc(o), 4);
    (tally_decref)(o);
    tally_decref(o);
    (tally_decref)(o);
    EXPECT_EQ(rc(o), 1);
    EXPECT_TRUE(dead.empty());
    (tally_decref)(o);
    tally_flush();
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0], o);
}

TEST(Refcount, XincrefXdecrefAcceptNull)
{
    tally_object *nothing = nullptr;
    tally_xincref(nothing);
    tally_xdecref(nothing);
    (tally_xincref)(nullptr);
    (tally_xdecref)(nullptr);
    tally_flush();

    std::vector<tally_object *> dead;
    Plain *p = plain_new(&dead);
    ASSERT_NE(p, nullptr);
    tally_object *o = &p->ob_base;
    tally_xincref(o);
    EXPECT_EQ(rc(o), 2);
    tally_xdecref(o);
    EXPECT_EQ(rc(o), 1);
    tally_xdecref(o);
    tally_flush();
    EXPECT_EQ(dead.size(), 1u);
}

TEST(Refcount, NewrefReturnsSameObjectWithOneMoreReference)
{
    std::vector<tally_object *> dead;
    Plain *p = plain_new(&dead);
    ASSERT_NE(p, nullptr);
    tally_object *o = &p->ob_base;
    tally_object *again = tally_newref(o);
    EXPECT_EQ(again, o);
    EXPECT_EQ(rc(o), 2);
    tally_decref(again);
    EXPECT_EQ(rc(o), 1);
    EXPECT_TRUE(dead.empty());
    tally_decref(o);
    tally_flush();
    EXPECT_EQ(dead.size(), 1u);
}

TEST(Refcount, DestroyRunsExactlyOnceForManyObjects)
{
    std::vector<tally_object *> dead;
    std::vector<tally_object *> live;
    for (int i = 0; i < 2000; i++) {
        Plain *p = plain_new(&dead);
        ASSERT_NE(p, nullptr);
        p->payload = i;
        live.push_back(&p->ob_base);
    }
    // Give every object i extra references and drop them again in a different order.
    for (size_t i = 0; i < live.size(); i++)
        for (size_t k = 0; k < i % 5; k++)
            tally_incref(live[i]);
    for (size_t i = live.size(); i-- > 0;)
        for (size_t k = 0; k < i % 5; k++)
            tally_decref(live[i]);
    tally_flush();
    EXPECT_TRUE(dead.empty());
    for (size_t i = 0; i < live.size(); i += 2)
        tally_decref(live[i]);
    tally_flush();
    EXPECT_EQ(dead.size(), live.size() / 2);
    for (size_t i = 1; i < live.size(); i += 2)
        tally_decref(live[i]);
    tally_flush();
    ASSERT_EQ(dead.size(), live.size());
    std::set<tally_object *> unique(dead.begin(), dead.end());
    EXPECT_EQ(unique.size(), live.size()) << "an object was destroyed twice";
    EXPECT_EQ(unique, std::set<tally_object *>(live.begin(), live.end()));
}

TEST(Refcount, DestroyReleasesReferencesOfCustomType)
{
    std::vector<tally_object *> dead;
    int holders_destroyed = 0;
    auto *h = reinterpret_cast<Holder *>(tally_new(&holder_type));
    ASSERT_NE(h, nullptr) << tally_last_error();
    h->destroyed = &holders_destroyed;
    Plain *a = plain_new(&dead);
    Plain *b = plain_new(&dead);
    ASSERT_TRUE(a && b);
    h->slot[0] = tally_newref(&a->ob_base);
    h->slot[1] = tally_newref(&b->ob_base);
    h->slot[2] = tally_newref(&a->ob_base);
    EXPECT_EQ(rc(&a->ob_base), 3);
    EXPECT_EQ(rc(&b->ob_base), 2);
    tally_decref(&a->ob_base);
    tally_decref(&b->ob_base);
    EXPECT_EQ(rc(&a->ob_base), 2);
    EXPECT_EQ(rc(&b->ob_base), 1);
    EXPECT_TRUE(dead.empty());

    tally_decref(&h->ob_base);
    tally_flush();
    EXPECT_EQ(holders_destroyed, 1);
    ASSERT_EQ(dead.size(), 2u);
    EXPECT_EQ(std::set<tally_object *>(dead.begin(), dead.end()),
              (std::set<tally_object *>{&a->ob_base, &b->ob_base}));
}

TEST(Refcount, NestedCustomContainersReleaseInnerObjects)
{
    // h1 -> h2 -> plain; dropping h1 destroys all three, each once.
    std::vector<tally_object *> dead;
    int holders_destroyed = 0;
    auto *h1 = reinterpret_cast<Holder *>(tally_new(&holder_type));
    auto *h2 = reinterpret_cast<Holder *>(tally_new(&holder_type));
    ASSERT_TRUE(h1 && h2);
    h1->destroyed = h2->destroyed = &holders_destroyed;
    Plain *p = plain_new(&dead);
    ASSERT_NE(p, nullptr);
    h2->slot[3] = &p->ob_base;      // steals the reference
    h1->slot[0] = &h2->ob_base;     // steals the reference
    EXPECT_EQ(rc(&h2->ob_base), 1);
    tally_decref(&h1->ob_base);
    tally_flush();
    EXPECT_EQ(holders_destroyed, 2);
    EXPECT_EQ(dead.size(), 1u);
}

TEST(Refcount, BuiltinContainersOwnTheirItems)
{
    tally_object *s = tally_str_new("owned by containers");
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(rc(s), 1);
    tally_object *l = tally_list_new();
    ASSERT_NE(l, nullptr);
    ASSERT_EQ(tally_list_append(l, s), 0);
    ASSERT_EQ(tally_list_append(l, s), 0);
    EXPECT_EQ(rc(s), 3);
    tally_object *t = tally_tuple_new(1, &s);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(rc(s), 4);
    tally_object *d = tally_dict_new();
    ASSERT_NE(d, nullptr);
    tally_object *k = tally_int_new(100000);
    ASSERT_EQ(tally_dict_set(d, k, s), 0);
    EXPECT_EQ(rc(s), 5);
    EXPECT_EQ(rc(k), 2);
    // Borrowed accessors do not change counts; tally_list_get and tally_dict_get return new references.
    EXPECT_EQ(tally_tuple_get(t, 0), s);
    EXPECT_EQ(rc(s), 5);
    tally_object *got = tally_list_get(l, 1);
    EXPECT_EQ(got, s);
    EXPECT_EQ(rc(s), 6);
    tally_decref(got);
    tally_object *v = tally_dict_get(d, k);
    EXPECT_EQ(v, s);
    EXPECT_EQ(rc(s), 6);
    tally_decref(v);

    tally_decref(l);
    EXPECT_EQ(rc(s), 3);
    tally_decref(t);
    EXPECT_EQ(rc(s), 2);
    tally_decref(d);
    EXPECT_EQ(rc(s), 1);
    EXPECT_EQ(rc(k), 1);
    EXPECT_STREQ(tally_str_value(s), "owned by containers");
    tally_decref(k);
    tally_decref(s);
    tally_flush();
}

TEST(Refcount, AllocStatsCountCreationsAndFrees)
{
    tally_flush();
    tally_alloc_stats before{};
    tally_get_alloc_stats(&before);
    EXPECT_EQ(before.live, before.allocated - before.freed);
    std::vector<tally_object *> objs;
    for (int i = 0; i < 100; i++) {
        tally_object *o = tally_new(&plain_type);
        ASSERT_NE(o, nullptr);
        objs.push_back(o);
    }
    tally_alloc_stats mid{};
    tally_get_alloc_stats(&mid);
    EXPECT_EQ(mid.allocated - before.allocated, 100u);
    for (tally_object *o : objs)
        tally_decref(o);
    tally_flush();
    tally_alloc_stats after{};
    tally_get_alloc_stats(&after);
    EXPECT_EQ(after.allocated, mid.allocated);
    EXPECT_EQ(after.live, after.allocated - after.freed);
    // Non-GC objects that no other thread has seen are freed at once by every backend.
    EXPECT_EQ(after.freed - before.freed, 100u);
}

TEST(Refcount, TypeOfBuiltins)
{
    tally_object *i = tally_int_new(1 << 20);
    tally_object *s = tally_str_new("x");
    tally_object *t = tally_tuple_new(0, nullptr);
    tally_object *l = tally_list_new();
    tally_object *d = tally_dict_new();
    tally_object *w = tally_weakref_new(l, nullptr, nullptr);
    ASSERT_TRUE(i && s && t && l && d && w) << tally_last_error();
    EXPECT_EQ(tally_type_of(i), &tally_int_type);
    EXPECT_EQ(tally_type_of(s), &tally_str_type);
    EXPECT_EQ(tally_type_of(t), &tally_tuple_type);
    EXPECT_EQ(tally_type_of(l), &tally_list_type);
    EXPECT_EQ(tally_type_of(d), &tally_dict_type);
    EXPECT_EQ(tally_type_of(w), &tally_weakref_type);
    EXPECT_EQ(tally_type_of(tally_none()), &tally_none_type);
    EXPECT_EQ(tally_int_value(i), 1 << 20);
    for (tally_object *o : {i, s, t, l, d, w})
        tally_decref(o);
    tally_flush();
}

TEST(Build, BackendNameIsOneOfTheBuilds)
{
    const char *b = tally_backend();
    ASSERT_NE(b, nullptr);
    // TALLY_BACKEND_NAMES: the build's list of backends (tally/backends.h, generated from
    // TALLY_BACKEND_LIST in CMakeLists.txt).
    const std::set<std::string> names{TALLY_BACKEND_NAMES};
    EXPECT_GE(names.size(), 1u);
    EXPECT_TRUE(names.count(b)) << b;
    // The compile-time selection of the inline fast path matches the linked library.
#if defined(TALLY_COMPILED_BACKEND)
    EXPECT_STREQ(b, TALLY_COMPILED_BACKEND);
#else
    ADD_FAILURE() << "the tally::<backend> target did not define TALLY_BACKEND_<NAME>";
#endif
    if (const char *want = std::getenv("TALLY_EXPECT_BACKEND")) {
        EXPECT_STREQ(b, want);
    }
}

TEST(Build, VersionMacrosAndString)
{
    static_assert(TALLY_VERSION_MAJOR >= 0 && TALLY_VERSION_MINOR >= 0 && TALLY_VERSION_PATCH >= 0, "");
    static_assert(TALLY_VERSION == TALLY_VERSION_MAJOR * 10000 + TALLY_VERSION_MINOR * 100 + TALLY_VERSION_PATCH,
                  "TALLY_VERSION encodes major.minor.patch");
    char expect[64];
    std::snprintf(expect, sizeof expect, "%d.%d.%d", TALLY_VERSION_MAJOR, TALLY_VERSION_MINOR, TALLY_VERSION_PATCH);
    EXPECT_STREQ(TALLY_VERSION_STRING, expect);
    ASSERT_NE(tally_version(), nullptr);
    // The library the test links against is the one the headers describe.
    EXPECT_STREQ(tally_version(), TALLY_VERSION_STRING);
}
