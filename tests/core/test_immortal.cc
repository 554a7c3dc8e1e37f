// tests/core/test_immortal.cc - conformance of immortal objects (PEP 683 semantics), per backend.
//
// Owns: the cached small ints -5..256 (one object per value, immortal), tally_none (immortal),
// tally_set_immortal (sticky: no incref/decref changes it, never destroyed), and the promise
// that refcounting never writes an immortal object (ob_ref_local stays TALLY_IMMORTAL_REFCNT and
// the rest of the header is unchanged).
#include "tally_test.h"

#include <cstring>
#include <vector>

namespace {

int g_immortal_destroyed = 0;
void mortal_destroy(tally_object *) { ++g_immortal_destroyed; }
const tally_type mortal_type = {"ImmortalCandidate", sizeof(tally_object) + 16, 0, nullptr, nullptr, nullptr,
                                nullptr, mortal_destroy};

struct GcBox {
    TALLY_OBJECT_HEAD;
    tally_object *item;
};
int gcbox_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    auto *b = reinterpret_cast<GcBox *>(self);
    return b->item ? visit(b->item, arg) : 0;
}
int gcbox_clear(tally_object *self)
{
    auto *b = reinterpret_cast<GcBox *>(self);
    tally_object *i = b->item;
    b->item = nullptr;
    tally_xdecref(i);
    return 0;
}
void gcbox_destroy(tally_object *self)
{
    ++g_immortal_destroyed;
    gcbox_clear(self);
}
const tally_type gcbox_type = {"ImmortalGcBox", sizeof(GcBox), TALLY_TYPE_GC, gcbox_traverse, gcbox_clear, nullptr,
                               nullptr, gcbox_destroy};

// Every field of the header but the lock byte and the collector's bits, which are not refcounting.
struct HeaderSnapshot {
    uintptr_t tid;
    uint32_t ref_local;
    uint16_t flags;
    intptr_t ref_shared;
    const tally_type *type;
    explicit HeaderSnapshot(const tally_object *o)
        : tid(o->ob_tid), ref_local(o->ob_ref_local), flags(o->ob_flags), ref_shared(o->ob_ref_shared),
          type(o->ob_type)
    {
    }
    bool operator==(const HeaderSnapshot &b) const
    {
        return tid == b.tid && ref_local == b.ref_local && flags == b.flags && ref_shared == b.ref_shared &&
               type == b.type;
    }
};

void hammer(tally_object *o, int n)
{
    for (int i = 0; i < n; i++) {
        tally_incref(o);
        (tally_incref)(o);
        tally_xincref(o);
    }
    for (int i = 0; i < n; i++) {
        tally_decref(o);
        (tally_decref)(o);
        tally_xdecref(o);
    }
    // More decrefs than increfs: an immortal object ignores them all.
    for (int i = 0; i < n; i++) {
        tally_decref(o);
        (tally_decref)(o);
    }
    tally_flush();
}

} // namespace

TEST(Immortal, SmallIntsAreCachedIdenticalAndImmortal)
{
    for (int64_t v = -5; v <= 256; v++) {
        tally_object *a = tally_int_new(v);
        tally_object *b = tally_int_new(v);
        ASSERT_NE(a, nullptr) << v;
        EXPECT_EQ(a, b) << "small int " << v << " is not a single cached object";
        EXPECT_TRUE(tally_is_immortal(a)) << v;
        EXPECT_EQ(a->ob_ref_local, TALLY_IMMORTAL_REFCNT) << v;
        EXPECT_EQ(tally_int_value(a), v);
        EXPECT_EQ(tally_type_of(a), &tally_int_type);
        tally_decref(a);
        tally_decref(b);
    }
    tally_flush();
    // Still alive and immortal after all those decrefs.
    tally_object *zero = tally_int_new(0);
    EXPECT_TRUE(tally_is_immortal(zero));
    EXPECT_EQ(tally_int_value(zero), 0);
}

TEST(Immortal, IntsOutsideTheCacheAreFreshMortalObjects)
{
    for (int64_t v : {int64_t(-6), int64_t(257), int64_t(1) << 40, INT64_MIN, INT64_MAX}) {
        tally_object *a = tally_int_new(v);
        tally_object *b = tally_int_new(v);
        ASSERT_TRUE(a && b);
        EXPECT_NE(a, b) << v;
        EXPECT_FALSE(tally_is_immortal(a)) << v;
        tally_flush();
        EXPECT_EQ(tally_refcount(a), 1);
        EXPECT_EQ(tally_int_value(a), v);
        EXPECT_EQ(tally_int_value(b), v);
        tally_decref(a);
        tally_decref(b);
    }
    tally_flush();
}

TEST(Immortal, NoneIsImmortalAndNeverWritten)
{
    tally_object *none = tally_none();
    ASSERT_NE(none, nullptr);
    EXPECT_EQ(none, tally_none());
    EXPECT_TRUE(tally_is_immortal(none));
    EXPECT_EQ(tally_type_of(none), &tally_none_type);
    HeaderSnapshot before(none);
    EXPECT_EQ(before.ref_local, TALLY_IMMORTAL_REFCNT);
    hammer(none, 10000);
    EXPECT_TRUE(HeaderSnapshot(none) == before) << "refcounting wrote to tally_none";
    EXPECT_TRUE(tally_is_immortal(none));
}

TEST(Immortal, SmallIntHeaderUnchangedByRefcounting)
{
    tally_object *seven = tally_int_new(7);
    HeaderSnapshot before(seven);
    hammer(seven, 5000);
    EXPECT_TRUE(HeaderSnapshot(seven) == before);
    EXPECT_EQ(seven->ob_ref_local, TALLY_IMMORTAL_REFCNT);
}

TEST(Immortal, SetImmortalIsStickyAndNeverDestroyed)
{
    g_immortal_destroyed = 0;
    tally_object *o = tally_new(&mortal_type);
    ASSERT_NE(o, nullptr);
    tally_incref(o);
    tally_flush();
    tally_set_immortal(o);
    EXPECT_TRUE(tally_is_immortal(o));
    EXPECT_EQ(o->ob_ref_local, TALLY_IMMORTAL_REFCNT);
    HeaderSnapshot before(o);
    hammer(o, 10000);
    EXPECT_TRUE(HeaderSnapshot(o) == before) << "refcounting wrote to an immortal object";
    EXPECT_TRUE(tally_is_immortal(o));
    EXPECT_EQ(g_immortal_destroyed, 0) << "an immortal object was destroyed";
    // Setting it again changes nothing.
    tally_set_immortal(o);
    EXPECT_TRUE(HeaderSnapshot(o) == before);
}

TEST(Immortal, ImmortalGcObjectIsNotFreedByCollection)
{
    g_immortal_destroyed = 0;
    auto *b = reinterpret_cast<GcBox *>(tally_new(&gcbox_type));
    ASSERT_NE(b, nullptr);
    // A self-cycle: garbage if it were mortal.
    b->item = tally_newref(&b->ob_base);
    tally_set_immortal(&b->ob_base);
    tally_decref(&b->ob_base);
    tally_flush();
    tally_gc_collect(2);
    tally_gc_collect(2);
    tally_flush();
    EXPECT_EQ(g_immortal_destroyed, 0);
    EXPECT_TRUE(tally_is_immortal(&b->ob_base));
    EXPECT_EQ(b->item, &b->ob_base) << "the collector cleared an immortal object";
}

TEST(Immortal, ObjectsReferencedFromImmortalsStayAlive)
{
    // An immortal container keeps what it references: those objects' counts stay exact.
    tally_object *l = tally_list_new();
    ASSERT_NE(l, nullptr);
    tally_set_immortal(l);
    tally_object *s = tally_str_new("kept");
    ASSERT_EQ(tally_list_append(l, s), 0);
    tally_flush();
    EXPECT_EQ(tally_refcount(s), 2);
    tally_decref(s);
    tally_decref(l); // ignored
    tally_gc_collect(2);
    tally_flush();
    EXPECT_EQ(tally_refcount(s), 1);
    EXPECT_STREQ(tally_str_value(s), "kept");
    EXPECT_EQ(tally_list_len(l), 1u);
}

TEST(Immortal, RefcountOfImmortalIsLarge)
{
    // tally_refcount of an immortal object reports a count no program can reach by increfs
    // (CPython reports _Py_IMMORTAL_REFCNT); at least it is far above any real count.
    EXPECT_GE(tally_refcount(tally_none()), intptr_t(1) << 30);
    EXPECT_GE(tally_refcount(tally_int_new(1)), intptr_t(1) << 30);
}
