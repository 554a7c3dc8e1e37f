// tests/core/test_builtins.cc - the built-in object types, single-threaded, per backend.
//
// Owns: None, ints (small-int cache, immortality, range), strings, tuples, lists and dicts:
// every operation, its edge cases (out of range, absent keys, empty containers), key identity
// (ints and strs by value, everything else by identity) and the exact references each
// operation takes and releases (refcounts of items after set/append/pop/clear/del, and the
// destruction of items a container held last).  Counts are read after tally_flush(), which
// applies the deferred backend's logs.
#include "tally_test.h"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace {

intptr_t rc(tally_object *o)
{
    tally_flush();
    return tally_refcount(o);
}

// A GC type that records how many times each instance was destroyed (by id).
struct Probe {
    TALLY_OBJECT_HEAD;
    int id;
    std::vector<int> *deaths;
};
void probe_destroy(tally_object *self)
{
    auto *p = reinterpret_cast<Probe *>(self);
    if (p->deaths)
        (*p->deaths)[p->id]++;
}
const tally_type probe_type = {"Probe", sizeof(Probe), TALLY_TYPE_GC, nullptr, nullptr, nullptr, nullptr,
                               probe_destroy};
tally_object *probe_new(int id, std::vector<int> *deaths)
{
    auto *p = reinterpret_cast<Probe *>(tally_new(&probe_type));
    if (p) {
        p->id = id;
        p->deaths = deaths;
    }
    return &p->ob_base;
}

} // namespace

// ---- None -------------------------------------------------------------------------------

TEST(None, IsOneImmortalObject)
{
    tally_object *n = tally_none();
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(tally_none(), n);
    EXPECT_EQ(tally_type_of(n), &tally_none_type);
    EXPECT_TRUE(tally_is_immortal(n));
    for (int i = 0; i < 1000; i++)
        tally_incref(n);
    for (int i = 0; i < 2000; i++)
        tally_decref(n);   // never freed, never goes negative
    EXPECT_TRUE(tally_is_immortal(n));
    EXPECT_EQ(tally_type_of(tally_none()), &tally_none_type);
}

// ---- ints -------------------------------------------------------------------------------

TEST(Int, SmallIntsAreCachedAndImmortal)
{
    for (int64_t v = -5; v <= 256; v++) {
        tally_object *a = tally_int_new(v);
        tally_object *b = tally_int_new(v);
        ASSERT_NE(a, nullptr);
        EXPECT_EQ(a, b) << v;
        EXPECT_TRUE(tally_is_immortal(a)) << v;
        EXPECT_EQ(tally_int_value(a), v);
        EXPECT_EQ(tally_type_of(a), &tally_int_type);
        tally_decref(a);   // no-ops on an immortal object
        tally_decref(b);
        tally_decref(b);
        EXPECT_EQ(tally_int_value(tally_int_new(v)), v);
    }
}

TEST(Int, ValuesOutsideTheCacheAreFreshObjects)
{
    for (int64_t v : {int64_t(-6), int64_t(257), int64_t(1000000), INT64_MIN, INT64_MAX, -(int64_t(1) << 40)}) {
        tally_object *a = tally_int_new(v);
        tally_object *b = tally_int_new(v);
        ASSERT_NE(a, nullptr);
        ASSERT_NE(b, nullptr);
        EXPECT_NE(a, b) << v;
        EXPECT_FALSE(tally_is_immortal(a));
        EXPECT_EQ(rc(a), 1);
        EXPECT_EQ(tally_int_value(a), v);
        EXPECT_EQ(tally_int_value(b), v);
        tally_decref(a);
        tally_decref(b);
    }
}

TEST(Int, AllocationStatsSeeOnlyUncachedInts)
{
    tally_alloc_stats before{}, after{};
    tally_flush();
    tally_get_alloc_stats(&before);
    for (int v = -5; v <= 256; v++)
        tally_int_new(v);
    tally_get_alloc_stats(&after);
    EXPECT_EQ(after.allocated, before.allocated);
    tally_object *big = tally_int_new(300);
    tally_get_alloc_stats(&after);
    EXPECT_EQ(after.allocated, before.allocated + 1);
    tally_decref(big);
}

// ---- strings ----------------------------------------------------------------------------

TEST(Str, CopiesTheBytes)
{
    char buf[] = "hello";
    tally_object *s = tally_str_new(buf);
    ASSERT_NE(s, nullptr);
    buf[0] = 'j';
    EXPECT_STREQ(tally_str_value(s), "hello");
    EXPECT_NE(tally_str_value(s), buf);
    EXPECT_EQ(tally_type_of(s), &tally_str_type);
    EXPECT_EQ(rc(s), 1);
    EXPECT_FALSE(tally_is_immortal(s));
    tally_decref(s);
}

TEST(Str, EmptyShortAndLongStrings)
{
    std::vector<std::string> samples = {"", "a", std::string(22, 'x'), std::string(23, 'y'), std::string(24, 'z'),
                                        std::string(100000, 'q')};
    for (const std::string &want : samples) {
        tally_object *s = tally_str_new(want.c_str());
        ASSERT_NE(s, nullptr);
        EXPECT_EQ(std::string(tally_str_value(s)), want);
        EXPECT_EQ(tally_str_value(s)[want.size()], '\0');
        EXPECT_EQ(tally_str_len(s), want.size());
        tally_decref(s);
    }
}

TEST(Str, HashIsStableAndEqualForEqualStrings)
{
    tally_object *a = tally_str_new("a key of some length");
    tally_object *b = tally_str_new("a key of some length");
    tally_object *c = tally_str_new("a key of some lengtH");
    EXPECT_EQ(tally_str_hash(a), tally_str_hash(b));   // distinct objects, equal bytes
    EXPECT_EQ(tally_str_hash(a), tally_str_hash(a));
    EXPECT_NE(tally_str_hash(a), tally_str_hash(c));   // one byte differs
    tally_decref(c);
    tally_decref(b);
    tally_decref(a);
}

TEST(Str, EqualStringsAreDistinctObjects)
{
    tally_object *a = tally_str_new("same");
    tally_object *b = tally_str_new("same");
    EXPECT_NE(a, b);
    EXPECT_STREQ(tally_str_value(a), tally_str_value(b));
    tally_decref(a);
    tally_decref(b);
}

TEST(Str, NullIsAnError)
{
    EXPECT_EQ(tally_str_new(nullptr), nullptr);
    EXPECT_NE(std::string(tally_last_error()), "");
}

// ---- tuples -----------------------------------------------------------------------------

TEST(Tuple, HoldsReferencesToItsItems)
{
    tally_object *a = tally_str_new("a");
    tally_object *b = tally_int_new(12345);
    tally_object *items[] = {a, b, tally_none()};
    tally_object *t = tally_tuple_new(3, items);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(tally_type_of(t), &tally_tuple_type);
    EXPECT_EQ(tally_tuple_len(t), 3u);
    EXPECT_EQ(rc(a), 2);
    EXPECT_EQ(rc(b), 2);
    // Borrowed: get does not change counts.
    EXPECT_EQ(tally_tuple_get(t, 0), a);
    EXPECT_EQ(tally_tuple_get(t, 1), b);
    EXPECT_EQ(tally_tuple_get(t, 2), tally_none());
    EXPECT_EQ(rc(a), 2);
    EXPECT_EQ(rc(b), 2);
    tally_decref(t);
    EXPECT_EQ(rc(a), 1);
    EXPECT_EQ(rc(b), 1);
    tally_decref(a);
    tally_decref(b);
}

TEST(Tuple, OutOfRangeIsNull)
{
    tally_object *x = tally_int_new(7);
    tally_object *t = tally_tuple_new(1, &x);
    EXPECT_EQ(tally_tuple_get(t, 1), nullptr);
    EXPECT_NE(std::string(tally_last_error()), "");
    EXPECT_EQ(tally_tuple_get(t, SIZE_MAX), nullptr);
    tally_decref(t);
}

TEST(Tuple, EmptyAndLong)
{
    tally_object *e = tally_tuple_new(0, nullptr);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(tally_tuple_len(e), 0u);
    EXPECT_EQ(tally_tuple_get(e, 0), nullptr);
    tally_decref(e);

    std::vector<tally_object *> items;
    for (int i = 0; i < 1000; i++)
        items.push_back(tally_int_new(1000 + i));
    tally_object *t = tally_tuple_new(items.size(), items.data());
    ASSERT_NE(t, nullptr);
    ASSERT_EQ(tally_tuple_len(t), items.size());
    for (size_t i = 0; i < items.size(); i++) {
        EXPECT_EQ(tally_tuple_get(t, i), items[i]);
        EXPECT_EQ(rc(items[i]), 2);
    }
    tally_decref(t);
    for (tally_object *o : items) {
        EXPECT_EQ(rc(o), 1);
        tally_decref(o);
    }
}

TEST(Tuple, NullSlotsWhileBuilding)
{
    tally_object *t = tally_tuple_new(4, nullptr);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(tally_tuple_len(t), 4u);
    for (size_t i = 0; i < 4; i++)
        EXPECT_EQ(tally_tuple_get(t, i), nullptr);
    tally_object *x = tally_str_new("x");
    tally_object *mixed[] = {nullptr, x};
    tally_object *u = tally_tuple_new(2, mixed);
    EXPECT_EQ(tally_tuple_get(u, 0), nullptr);
    EXPECT_EQ(tally_tuple_get(u, 1), x);
    EXPECT_EQ(rc(x), 2);
    tally_decref(u);   // skips the NULL slot, releases x
    EXPECT_EQ(rc(x), 1);
    tally_decref(x);
    tally_decref(t);
}

TEST(Tuple, DeathReleasesItemsExactlyOnce)
{
    std::vector<int> deaths(10, 0);
    std::vector<tally_object *> items;
    for (int i = 0; i < 10; i++)
        items.push_back(probe_new(i, &deaths));
    tally_object *t = tally_tuple_new(items.size(), items.data());
    for (tally_object *o : items)
        tally_decref(o);   // the tuple holds the only references now
    tally_flush();
    for (int d : deaths)
        EXPECT_EQ(d, 0);
    tally_decref(t);
    tally_flush();
    for (int i = 0; i < 10; i++)
        EXPECT_EQ(deaths[i], 1) << i;
}

// ---- lists ------------------------------------------------------------------------------

TEST(List, NewIsEmpty)
{
    tally_object *l = tally_list_new();
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(tally_type_of(l), &tally_list_type);
    EXPECT_EQ(tally_list_len(l), 0u);
    EXPECT_EQ(tally_list_get(l, 0), nullptr);
    EXPECT_EQ(tally_list_pop(l), nullptr);
    EXPECT_NE(std::string(tally_last_error()), "");
    EXPECT_EQ(tally_list_set(l, 0, tally_none()), -1);
    EXPECT_EQ(tally_list_clear(l), 0);
    EXPECT_EQ(tally_list_len(l), 0u);
    tally_decref(l);
}

TEST(List, AppendTakesAReferenceGetReturnsANewOne)
{
    tally_object *l = tally_list_new();
    tally_object *s = tally_str_new("item");
    ASSERT_EQ(tally_list_append(l, s), 0);
    EXPECT_EQ(rc(s), 2);
    EXPECT_EQ(tally_list_len(l), 1u);
    tally_object *g = tally_list_get(l, 0);
    EXPECT_EQ(g, s);
    EXPECT_EQ(rc(s), 3);
    tally_decref(g);
    EXPECT_EQ(rc(s), 2);
    EXPECT_EQ(tally_list_get(l, 1), nullptr);
    EXPECT_EQ(tally_list_get(l, SIZE_MAX), nullptr);
    EXPECT_EQ(rc(s), 2);
    tally_decref(l);
    EXPECT_EQ(rc(s), 1);
    tally_decref(s);
}

TEST(List, SameObjectMayAppearManyTimes)
{
    tally_object *l = tally_list_new();
    tally_object *s = tally_str_new("dup");
    for (int i = 0; i < 5; i++)
        ASSERT_EQ(tally_list_append(l, s), 0);
    EXPECT_EQ(rc(s), 6);
    tally_list_clear(l);
    EXPECT_EQ(rc(s), 1);
    tally_decref(s);
    tally_decref(l);
}

TEST(List, SetReplacesAndReleasesTheOldItem)
{
    std::vector<int> deaths(2, 0);
    tally_object *l = tally_list_new();
    tally_object *a = probe_new(0, &deaths);
    tally_object *b = probe_new(1, &deaths);
    ASSERT_EQ(tally_list_append(l, a), 0);
    tally_decref(a);   // the list holds a alone
    ASSERT_EQ(tally_list_set(l, 0, b), 0);
    tally_flush();
    EXPECT_EQ(deaths[0], 1) << "set must release the replaced item";
    EXPECT_EQ(rc(b), 2);
    tally_object *g = tally_list_get(l, 0);
    EXPECT_EQ(g, b);
    tally_decref(g);
    // Setting the same object again keeps the count.
    ASSERT_EQ(tally_list_set(l, 0, b), 0);
    EXPECT_EQ(rc(b), 2);
    // Out of range: refused, the item's count is unchanged.
    EXPECT_EQ(tally_list_set(l, 1, b), -1);
    EXPECT_NE(std::string(tally_last_error()), "");
    EXPECT_EQ(rc(b), 2);
    tally_decref(l);
    EXPECT_EQ(rc(b), 1);
    tally_decref(b);
    tally_flush();
    EXPECT_EQ(deaths[1], 1);
}

TEST(List, PopReturnsTheListsReference)
{
    tally_object *l = tally_list_new();
    tally_object *a = tally_str_new("a");
    tally_object *b = tally_str_new("b");
    tally_list_append(l, a);
    tally_list_append(l, b);
    EXPECT_EQ(rc(b), 2);
    tally_object *p = tally_list_pop(l);
    EXPECT_EQ(p, b);
    EXPECT_EQ(rc(b), 2) << "pop hands over the list's reference: no increment, no decrement";
    EXPECT_EQ(tally_list_len(l), 1u);
    EXPECT_EQ(tally_list_get(l, 1), nullptr);
    tally_decref(p);
    EXPECT_EQ(tally_list_pop(l), a);
    EXPECT_EQ(rc(a), 2);
    tally_decref(a);
    EXPECT_EQ(tally_list_pop(l), nullptr);
    EXPECT_EQ(tally_list_len(l), 0u);
    EXPECT_EQ(rc(a), 1);
    EXPECT_EQ(rc(b), 1);
    tally_decref(a);
    tally_decref(b);
    tally_decref(l);
}

TEST(List, GrowsAndShrinksKeepingOrderAndCounts)
{
    constexpr int N = 10000;
    tally_object *l = tally_list_new();
    std::vector<tally_object *> items;
    for (int i = 0; i < N; i++) {
        items.push_back(tally_int_new(100000 + i));
        ASSERT_EQ(tally_list_append(l, items.back()), 0);
    }
    ASSERT_EQ(tally_list_len(l), size_t(N));
    for (int i = 0; i < N; i += 97) {
        tally_object *g = tally_list_get(l, i);
        ASSERT_EQ(g, items[i]);
        tally_decref(g);
    }
    // Pop 9/10 of them (the array shrinks on the way), checking LIFO order.
    for (int i = N - 1; i >= N / 10; i--) {
        tally_object *p = tally_list_pop(l);
        ASSERT_EQ(p, items[i]) << i;
        tally_decref(p);
        EXPECT_EQ(rc(items[i]), 1);
    }
    ASSERT_EQ(tally_list_len(l), size_t(N / 10));
    for (int i = 0; i < N / 10; i++) {
        tally_object *g = tally_list_get(l, i);
        ASSERT_EQ(g, items[i]);
        tally_decref(g);
    }
    // Append again after the shrink.
    tally_object *extra = tally_str_new("extra");
    tally_list_append(l, extra);
    tally_object *g = tally_list_get(l, N / 10);
    EXPECT_EQ(g, extra);
    tally_decref(g);
    tally_decref(extra);
    EXPECT_EQ(tally_list_clear(l), 0);
    EXPECT_EQ(tally_list_len(l), 0u);
    for (tally_object *o : items) {
        EXPECT_EQ(rc(o), 1);
        tally_decref(o);
    }
    tally_decref(l);
}

TEST(List, ClearAndDeathReleaseEveryItemOnce)
{
    std::vector<int> deaths(200, 0);
    tally_object *l = tally_list_new();
    for (int i = 0; i < 100; i++) {
        tally_object *p = probe_new(i, &deaths);
        tally_list_append(l, p);
        tally_decref(p);
    }
    tally_list_clear(l);
    tally_flush();
    for (int i = 0; i < 100; i++)
        EXPECT_EQ(deaths[i], 1) << i;
    // The list is usable after clear, and its own death releases what it holds.
    for (int i = 100; i < 200; i++) {
        tally_object *p = probe_new(i, &deaths);
        tally_list_append(l, p);
        tally_decref(p);
    }
    EXPECT_EQ(tally_list_len(l), 100u);
    tally_decref(l);
    tally_flush();
    for (int i = 0; i < 200; i++)
        EXPECT_EQ(deaths[i], 1) << i;
}

TEST(List, ImmortalItemsStayImmortal)
{
    tally_object *l = tally_list_new();
    tally_object *one = tally_int_new(1);
    for (int i = 0; i < 100; i++)
        tally_list_append(l, one);
    tally_list_append(l, tally_none());
    EXPECT_TRUE(tally_is_immortal(one));
    tally_decref(l);
    EXPECT_TRUE(tally_is_immortal(one));
    EXPECT_EQ(tally_int_value(one), 1);
}

// ---- dicts ------------------------------------------------------------------------------

TEST(Dict, NewIsEmpty)
{
    tally_object *d = tally_dict_new();
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(tally_type_of(d), &tally_dict_type);
    EXPECT_EQ(tally_dict_len(d), 0u);
    tally_object *k = tally_str_new("k");
    EXPECT_EQ(tally_dict_get(d, k), nullptr);
    EXPECT_EQ(tally_dict_del(d, k), -1);
    EXPECT_NE(std::string(tally_last_error()), "");
    EXPECT_EQ(rc(k), 1);
    tally_decref(k);
    tally_decref(d);
}

TEST(Dict, SetTakesReferencesGetReturnsANewOne)
{
    tally_object *d = tally_dict_new();
    tally_object *k = tally_str_new("key");
    tally_object *v = tally_str_new("value");
    ASSERT_EQ(tally_dict_set(d, k, v), 0);
    EXPECT_EQ(tally_dict_len(d), 1u);
    EXPECT_EQ(rc(k), 2);
    EXPECT_EQ(rc(v), 2);
    tally_object *g = tally_dict_get(d, k);
    EXPECT_EQ(g, v);
    EXPECT_EQ(rc(v), 3);
    tally_decref(g);
    tally_decref(d);
    EXPECT_EQ(rc(k), 1);
    EXPECT_EQ(rc(v), 1);
    tally_decref(k);
    tally_decref(v);
}

TEST(Dict, IntKeysCompareByValue)
{
    tally_object *d = tally_dict_new();
    tally_object *k1 = tally_int_new(1234567);
    tally_object *k2 = tally_int_new(1234567);   // a distinct object, equal value
    ASSERT_NE(k1, k2);
    tally_object *v = tally_str_new("v");
    tally_dict_set(d, k1, v);
    tally_object *g = tally_dict_get(d, k2);
    EXPECT_EQ(g, v);
    tally_xdecref(g);
    tally_object *other = tally_int_new(1234568);
    EXPECT_EQ(tally_dict_get(d, other), nullptr);
    // Small (cached) and negative ints too.
    tally_dict_set(d, tally_int_new(-5), v);
    g = tally_dict_get(d, tally_int_new(-5));
    EXPECT_EQ(g, v);
    tally_xdecref(g);
    EXPECT_EQ(tally_dict_len(d), 2u);
    EXPECT_EQ(tally_dict_del(d, k2), 0);
    EXPECT_EQ(tally_dict_len(d), 1u);
    EXPECT_EQ(rc(k1), 1) << "del releases the stored key object";
    tally_decref(k1);
    tally_decref(k2);
    tally_decref(other);
    tally_decref(v);
    tally_decref(d);
}

TEST(Dict, StrKeysCompareByValue)
{
    tally_object *d = tally_dict_new();
    std::string long_key(300, 'k');
    tally_object *k1 = tally_str_new("alpha");
    tally_object *k2 = tally_str_new("alpha");
    tally_object *l1 = tally_str_new(long_key.c_str());
    tally_object *l2 = tally_str_new(long_key.c_str());
    tally_object *v1 = tally_int_new(1001), *v2 = tally_int_new(1002);
    tally_dict_set(d, k1, v1);
    tally_dict_set(d, l1, v2);
    tally_object *g = tally_dict_get(d, k2);
    EXPECT_EQ(g, v1);
    tally_xdecref(g);
    g = tally_dict_get(d, l2);
    EXPECT_EQ(g, v2);
    tally_xdecref(g);
    tally_object *prefix = tally_str_new("alph");
    tally_object *empty = tally_str_new("");
    EXPECT_EQ(tally_dict_get(d, prefix), nullptr);
    EXPECT_EQ(tally_dict_get(d, empty), nullptr);
    for (tally_object *o : {k1, k2, l1, l2, v1, v2, prefix, empty})
        tally_decref(o);
    tally_decref(d);
}

TEST(Dict, IntAndStrKeysNeverCollide)
{
    tally_object *d = tally_dict_new();
    tally_object *i1 = tally_int_new(1);
    tally_object *s1 = tally_str_new("1");
    tally_object *va = tally_str_new("int"), *vb = tally_str_new("str");
    tally_dict_set(d, i1, va);
    tally_dict_set(d, s1, vb);
    EXPECT_EQ(tally_dict_len(d), 2u);
    tally_object *g = tally_dict_get(d, i1);
    EXPECT_EQ(g, va);
    tally_xdecref(g);
    g = tally_dict_get(d, s1);
    EXPECT_EQ(g, vb);
    tally_xdecref(g);
    for (tally_object *o : {s1, va, vb})
        tally_decref(o);
    tally_decref(d);
}

TEST(Dict, OtherKeysCompareByIdentity)
{
    tally_object *d = tally_dict_new();
    tally_object *l1 = tally_list_new(), *l2 = tally_list_new();
    tally_object *e1 = tally_tuple_new(0, nullptr), *e2 = tally_tuple_new(0, nullptr);
    tally_object *v = tally_str_new("v");
    tally_dict_set(d, l1, v);
    tally_dict_set(d, e1, v);
    EXPECT_EQ(tally_dict_get(d, l2), nullptr) << "equal-looking lists are different keys";
    EXPECT_EQ(tally_dict_get(d, e2), nullptr) << "tuples are keyed by identity";
    tally_object *g = tally_dict_get(d, l1);
    EXPECT_EQ(g, v);
    tally_xdecref(g);
    g = tally_dict_get(d, e1);
    EXPECT_EQ(g, v);
    tally_xdecref(g);
    g = tally_dict_get(d, tally_none());
    EXPECT_EQ(g, nullptr);
    tally_dict_set(d, tally_none(), v);
    g = tally_dict_get(d, tally_none());
    EXPECT_EQ(g, v);
    tally_xdecref(g);
    EXPECT_EQ(tally_dict_len(d), 3u);
    EXPECT_EQ(rc(v), 4);
    for (tally_object *o : {l1, l2, e1, e2})
        tally_decref(o);
    tally_decref(d);
    EXPECT_EQ(rc(v), 1);
    tally_decref(v);
}

TEST(Dict, ReplaceKeepsTheFirstKeyAndReleasesTheOldValue)
{
    std::vector<int> deaths(2, 0);
    tally_object *d = tally_dict_new();
    tally_object *k1 = tally_str_new("key");
    tally_object *k2 = tally_str_new("key");
    tally_object *a = probe_new(0, &deaths), *b = probe_new(1, &deaths);
    tally_dict_set(d, k1, a);
    tally_decref(a);
    ASSERT_EQ(tally_dict_set(d, k2, b), 0);
    tally_flush();
    EXPECT_EQ(deaths[0], 1) << "the replaced value is released";
    EXPECT_EQ(tally_dict_len(d), 1u);
    EXPECT_EQ(rc(k1), 2) << "the stored key object stays";
    EXPECT_EQ(rc(k2), 1) << "the new key object is not kept";
    EXPECT_EQ(rc(b), 2);
    // Same value again: counts unchanged.
    tally_dict_set(d, k1, b);
    EXPECT_EQ(rc(b), 2);
    EXPECT_EQ(rc(k1), 2);
    tally_decref(b);
    EXPECT_EQ(tally_dict_del(d, k2), 0);
    tally_flush();
    EXPECT_EQ(deaths[1], 1);
    EXPECT_EQ(rc(k1), 1);
    EXPECT_EQ(tally_dict_del(d, k1), -1);
    tally_decref(k1);
    tally_decref(k2);
    tally_decref(d);
}

TEST(Dict, ManyKeysWithChurn)
{
    constexpr int N = 5000;
    tally_object *d = tally_dict_new();
    std::vector<tally_object *> keys, vals;
    for (int i = 0; i < N; i++) {
        keys.push_back(i % 2 ? tally_int_new(i * 7919) : tally_str_new(("k" + std::to_string(i)).c_str()));
        vals.push_back(tally_int_new(1000000 + i));
        ASSERT_EQ(tally_dict_set(d, keys[i], vals[i]), 0);
    }
    ASSERT_EQ(tally_dict_len(d), size_t(N));
    // Delete every third key, then insert and delete fresh keys repeatedly (tombstones).
    for (int i = 0; i < N; i += 3)
        ASSERT_EQ(tally_dict_del(d, keys[i]), 0);
    for (int round = 0; round < 20; round++) {
        for (int j = 0; j < 200; j++) {
            tally_object *k = tally_int_new(-1000000 - round * 1000 - j);
            ASSERT_EQ(tally_dict_set(d, k, tally_none()), 0);
            ASSERT_EQ(tally_dict_del(d, k), 0);
            EXPECT_EQ(rc(k), 1);
            tally_decref(k);
        }
    }
    size_t expect = N - (N + 2) / 3;
    ASSERT_EQ(tally_dict_len(d), expect);
    for (int i = 0; i < N; i++) {
        // Look up with an equal but distinct key object.
        tally_object *probe = i % 2 ? tally_int_new(i * 7919) : tally_str_new(("k" + std::to_string(i)).c_str());
        tally_object *g = tally_dict_get(d, probe);
        if (i % 3 == 0) {
            EXPECT_EQ(g, nullptr) << i;
        } else {
            EXPECT_EQ(g, vals[i]) << i;
        }
        tally_xdecref(g);
        tally_decref(probe);
    }
    tally_decref(d);
    for (int i = 0; i < N; i++) {
        EXPECT_EQ(rc(keys[i]), 1);
        EXPECT_EQ(rc(vals[i]), 1);
        tally_decref(keys[i]);
        tally_decref(vals[i]);
    }
}

TEST(Dict, DeathReleasesKeysAndValuesOnce)
{
    std::vector<int> deaths(100, 0);
    tally_object *d = tally_dict_new();
    for (int i = 0; i < 50; i++) {
        tally_object *k = probe_new(i, &deaths), *v = probe_new(50 + i, &deaths);
        tally_dict_set(d, k, v);
        tally_decref(k);
        tally_decref(v);
    }
    tally_flush();
    for (int x : deaths)
        EXPECT_EQ(x, 0);
    tally_decref(d);
    tally_flush();
    for (int i = 0; i < 100; i++)
        EXPECT_EQ(deaths[i], 1) << i;
}

TEST(Containers, NestedContainersAreReleasedWithTheirOwner)
{
    std::vector<int> deaths(3, 0);
    tally_object *outer = tally_dict_new();
    tally_object *inner = tally_list_new();
    tally_object *p0 = probe_new(0, &deaths), *p1 = probe_new(1, &deaths), *p2 = probe_new(2, &deaths);
    tally_object *tup_items[] = {p0, p1};
    tally_object *tup = tally_tuple_new(2, tup_items);
    tally_list_append(inner, tup);
    tally_list_append(inner, p2);
    tally_dict_set(outer, tally_int_new(1), inner);
    for (tally_object *o : {inner, tup, p0, p1, p2})
        tally_decref(o);
    tally_flush();
    EXPECT_EQ(deaths, std::vector<int>({0, 0, 0}));
    tally_decref(outer);
    tally_flush();
    EXPECT_EQ(deaths, std::vector<int>({1, 1, 1}));
}

TEST(Containers, GcTypesAreTrackedAtomicTypesAreNot)
{
    tally_object *l = tally_list_new(), *d = tally_dict_new(), *t = tally_tuple_new(0, nullptr);
    tally_object *s = tally_str_new("s"), *i = tally_int_new(99999);
    EXPECT_TRUE(tally_gc_is_tracked(l));
    EXPECT_TRUE(tally_gc_is_tracked(d));
    EXPECT_TRUE(tally_gc_is_tracked(t));
    EXPECT_FALSE(tally_gc_is_tracked(s));
    EXPECT_FALSE(tally_gc_is_tracked(i));
    EXPECT_EQ(tally_list_type.flags & TALLY_TYPE_GC, TALLY_TYPE_GC);
    EXPECT_EQ(tally_dict_type.flags & TALLY_TYPE_GC, TALLY_TYPE_GC);
    EXPECT_EQ(tally_tuple_type.flags & TALLY_TYPE_GC, TALLY_TYPE_GC);
    EXPECT_EQ(tally_weakref_type.flags & TALLY_TYPE_GC, TALLY_TYPE_GC);
    EXPECT_EQ(tally_int_type.flags & TALLY_TYPE_GC, 0u);
    EXPECT_EQ(tally_str_type.flags & TALLY_TYPE_GC, 0u);
    for (tally_object *o : {l, d, t, s, i})
        tally_decref(o);
}

// Traversal is what the collector sees of a container: exactly its references.
namespace {
int collect_visit(tally_object *o, void *arg)
{
    static_cast<std::multiset<tally_object *> *>(arg)->insert(o);
    return 0;
}
int stop_visit(tally_object *, void *arg)
{
    ++*static_cast<int *>(arg);
    return 7;
}
} // namespace

TEST(Containers, TraverseVisitsEveryReferenceAndStopsOnNonzero)
{
    tally_object *a = tally_str_new("a"), *b = tally_int_new(5000), *c = tally_list_new();
    tally_object *l = tally_list_new();
    tally_list_append(l, a);
    tally_list_append(l, b);
    tally_list_append(l, a);
    std::multiset<tally_object *> seen;
    EXPECT_EQ(tally_list_type.traverse(l, collect_visit, &seen), 0);
    EXPECT_EQ(seen, std::multiset<tally_object *>({a, a, b}));

    tally_object *d = tally_dict_new();
    tally_dict_set(d, a, b);
    tally_dict_set(d, c, c);
    tally_dict_set(d, b, a);
    tally_dict_del(d, b);
    seen.clear();
    EXPECT_EQ(tally_dict_type.traverse(d, collect_visit, &seen), 0);
    EXPECT_EQ(seen, std::multiset<tally_object *>({a, b, c, c}));

    tally_object *items[] = {a, nullptr, c};
    tally_object *t = tally_tuple_new(3, items);
    seen.clear();
    EXPECT_EQ(tally_tuple_type.traverse(t, collect_visit, &seen), 0);
    EXPECT_EQ(seen, std::multiset<tally_object *>({a, c}));

    int calls = 0;
    EXPECT_EQ(tally_list_type.traverse(l, stop_visit, &calls), 7);
    EXPECT_EQ(calls, 1);

    // The clear slot (used by the collector to break cycles) drops every reference.
    EXPECT_EQ(tally_dict_type.clear(d), 0);
    EXPECT_EQ(tally_dict_len(d), 0u);
    EXPECT_EQ(tally_list_type.clear(l), 0);
    EXPECT_EQ(tally_list_len(l), 0u);
    EXPECT_EQ(rc(a), 2);   // the caller and the tuple
    for (tally_object *o : {l, d, t})
        tally_decref(o);
    EXPECT_EQ(rc(a), 1);
    EXPECT_EQ(rc(c), 1);
    for (tally_object *o : {a, b, c})
        tally_decref(o);
}
