// tests/core/test_dealloc.cc - conformance of deallocation on refcount death, per backend.
//
// Owns: (1) bounded C stack: a 1,000,000-deep chain (lists, tuples, dicts, a custom type)
// freed by one decref must not overflow the stack, and every node must be destroyed;
// (2) the order of CPython's subtype_dealloc: finalize (once per GC object; resurrection stops
// the deallocation and keeps weakrefs), then every weakref cleared and the callbacks run
// (newest first), then del (resurrection stops again; no once-only guard), then destroy.
#include "tally_test.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kDeep = 1000000;

// Live objects (allocated - freed) settle once the refcount logs are applied and delayed
// frees have passed their grace period; poll safepoints until they do (bounded).
uint64_t settled_live(uint64_t target)
{
    tally_alloc_stats s{};
    for (int i = 0; i < 2000; i++) {
        tally_flush();
        tally_safepoint();
        tally_get_alloc_stats(&s);
        if (s.live <= target)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return s.live;
}

uint64_t live_now()
{
    tally_flush();
    tally_alloc_stats s{};
    tally_get_alloc_stats(&s);
    return s.live;
}

// Live objects once the runtime's own lazily made objects exist (gc.garbage is created by the
// first collection) and every pending free is done: the baseline for leak checks.
uint64_t baseline_live()
{
    tally_gc_collect(2);
    // Settled: the count did not move over 5 consecutive polls (delayed frees done).
    uint64_t last = live_now(), same = 0;
    for (int i = 0; i < 1000 && same < 5; i++) {
        tally_safepoint();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        uint64_t now = live_now();
        same = now == last ? same + 1 : 0;
        last = now;
    }
    return last;
}

struct GcPause {
    GcPause() { tally_gc_disable(); }
    ~GcPause() { tally_gc_enable(); }
};

} // namespace

// ---- deep chains ------------------------------------------------------------------------

TEST(DeepDealloc, CustomTypeChainEveryNodeDestroyedOnce)
{
    GcPause nogc;
    std::atomic<int> destroyed{0};
    CountedObject *head = counted_new(&destroyed);
    ASSERT_NE(head, nullptr);
    CountedObject *cur = head;
    for (int i = 1; i < kDeep; i++) {
        CountedObject *n = counted_new(&destroyed);
        ASSERT_NE(n, nullptr);
        cur->ref = &n->ob_base; // steals the only reference
        cur = n;
    }
    tally_flush();
    EXPECT_EQ(destroyed.load(), 0);
    tally_decref(&head->ob_base);
    tally_flush();
    EXPECT_EQ(destroyed.load(), kDeep);
}

TEST(DeepDealloc, ListChainFreedByOneDecref)
{
    GcPause nogc;
    uint64_t base = baseline_live();
    std::atomic<int> destroyed{0};
    tally_object *head = tally_list_new();
    ASSERT_NE(head, nullptr);
    tally_object *cur = head;
    for (int i = 1; i < kDeep; i++) {
        tally_object *n = tally_list_new();
        ASSERT_NE(n, nullptr);
        ASSERT_EQ(tally_list_append(cur, n), 0);
        tally_decref(n);
        cur = n;
    }
    // The innermost list holds a counted object: it dies only if the whole chain was torn down.
    CountedObject *leaf = counted_new(&destroyed);
    ASSERT_EQ(tally_list_append(cur, &leaf->ob_base), 0);
    tally_decref(&leaf->ob_base);
    EXPECT_EQ(live_now() - base, uint64_t(kDeep) + 1);

    tally_decref(head);
    tally_flush();
    EXPECT_EQ(destroyed.load(), 1);
    EXPECT_EQ(settled_live(base), base) << "list chain not completely freed";
}

TEST(DeepDealloc, TupleChainFreedByOneDecref)
{
    GcPause nogc;
    uint64_t base = baseline_live();
    std::atomic<int> destroyed{0};
    CountedObject *leaf = counted_new(&destroyed);
    ASSERT_NE(leaf, nullptr);
    tally_object *cur = &leaf->ob_base;
    for (int i = 0; i < kDeep; i++) {
        tally_object *t = tally_tuple_new(1, &cur);
        ASSERT_NE(t, nullptr);
        tally_decref(cur); // the tuple holds it now
        cur = t;
    }
    EXPECT_EQ(live_now() - base, uint64_t(kDeep) + 1);
    tally_decref(cur);
    tally_flush();
    EXPECT_EQ(destroyed.load(), 1);
    EXPECT_EQ(settled_live(base), base) << "tuple chain not completely freed";
}

TEST(DeepDealloc, DictChainFreedByOneDecref)
{
    GcPause nogc;
    std::atomic<int> destroyed{0};
    tally_object *key = tally_str_new("next");
    ASSERT_NE(key, nullptr);
    uint64_t base = baseline_live();
    CountedObject *leaf = counted_new(&destroyed);
    ASSERT_NE(leaf, nullptr);
    tally_object *cur = &leaf->ob_base;
    for (int i = 0; i < kDeep; i++) {
        tally_object *d = tally_dict_new();
        ASSERT_NE(d, nullptr);
        ASSERT_EQ(tally_dict_set(d, key, cur), 0);
        tally_decref(cur);
        cur = d;
    }
    EXPECT_EQ(live_now() - base, uint64_t(kDeep) + 1);
    tally_decref(cur);
    tally_flush();
    EXPECT_EQ(destroyed.load(), 1);
    EXPECT_EQ(settled_live(base), base) << "dict chain not completely freed";
    tally_flush();
    EXPECT_EQ(tally_refcount(key), 1);
    tally_decref(key);
}

TEST(DeepDealloc, MixedChainOfAllContainerKinds)
{
    GcPause nogc;
    std::atomic<int> destroyed{0};
    uint64_t base = baseline_live();
    CountedObject *leaf = counted_new(&destroyed);
    ASSERT_NE(leaf, nullptr);
    tally_object *cur = &leaf->ob_base;
    for (int i = 0; i < kDeep / 4; i++) {
        tally_object *next = nullptr;
        switch (i % 4) {
        case 0:
            next = tally_list_new();
            ASSERT_EQ(tally_list_append(next, cur), 0);
            break;
        case 1:
            next = tally_tuple_new(1, &cur);
            break;
        case 2: {
            next = tally_dict_new();
            tally_object *k = tally_int_new(i);
            ASSERT_EQ(tally_dict_set(next, k, cur), 0);
            tally_decref(k);
            break;
        }
        default: {
            CountedObject *c = counted_new(&destroyed);
            c->ref = tally_newref(cur);
            next = &c->ob_base;
            break;
        }
        }
        ASSERT_NE(next, nullptr);
        tally_decref(cur);
        cur = next;
    }
    tally_decref(cur);
    tally_flush();
    EXPECT_EQ(destroyed.load(), 1 + kDeep / 16);
    EXPECT_EQ(settled_live(base), base);
}

// ---- finalize / weakrefs / del / destroy order ---------------------------------------------

namespace {

struct Recorder {
    std::string log;
    int finalize_resurrections = 0; // finalize resurrects while > 0
    int del_resurrections = 0;      // del resurrects while > 0
    tally_object *saved = nullptr;  // where a resurrected object is kept
    std::vector<tally_object *> weakrefs; // weakrefs expected to be cleared during callbacks
    bool all_cleared_in_callback = true;
};
Recorder *g_rec = nullptr;

struct Lifecycle {
    TALLY_OBJECT_HEAD;
    tally_object *child; // strong
};

int lc_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    auto *l = reinterpret_cast<Lifecycle *>(self);
    return l->child ? visit(l->child, arg) : 0;
}
int lc_clear(tally_object *self)
{
    auto *l = reinterpret_cast<Lifecycle *>(self);
    tally_object *c = l->child;
    l->child = nullptr;
    tally_xdecref(c);
    return 0;
}
void lc_finalize(tally_object *self)
{
    g_rec->log += "F";
    if (g_rec->finalize_resurrections > 0) {
        g_rec->finalize_resurrections--;
        g_rec->saved = tally_newref(self);
    }
}
void lc_del(tally_object *self)
{
    g_rec->log += "D";
    if (g_rec->del_resurrections > 0) {
        g_rec->del_resurrections--;
        g_rec->saved = tally_newref(self);
    }
}
void lc_destroy(tally_object *self)
{
    g_rec->log += "X";
    lc_clear(self);
}

const tally_type lc_gc_type = {"LifecycleGC", sizeof(Lifecycle), TALLY_TYPE_GC, lc_traverse, lc_clear,
                               lc_finalize, lc_del, lc_destroy};
const tally_type lc_plain_type = {"LifecyclePlain", sizeof(Lifecycle), 0, nullptr, nullptr,
                                  lc_finalize, lc_del, lc_destroy};
const tally_type lc_finalize_only_type = {"LifecycleFinalizeOnly", sizeof(Lifecycle), TALLY_TYPE_GC, lc_traverse,
                                          lc_clear, lc_finalize, nullptr, lc_destroy};

void weakref_cb(tally_object *wr, void *arg)
{
    const char *tag = static_cast<const char *>(arg);
    g_rec->log += tag;
    // Every weakref to the dying object is already cleared when the first callback runs.
    if (tally_weakref_get(wr) != nullptr)
        g_rec->all_cleared_in_callback = false;
    for (tally_object *w : g_rec->weakrefs) {
        tally_object *t = tally_weakref_get(w);
        if (t) {
            g_rec->all_cleared_in_callback = false;
            tally_decref(t);
        }
    }
}

class DeallocOrder : public ::testing::Test {
  protected:
    Recorder rec;
    void SetUp() override { g_rec = &rec; }
    void TearDown() override
    {
        tally_flush();
        g_rec = nullptr;
    }
    Lifecycle *make(const tally_type *t)
    {
        auto *l = reinterpret_cast<Lifecycle *>(tally_new(t));
        EXPECT_NE(l, nullptr) << tally_last_error();
        return l;
    }
};

} // namespace

TEST_F(DeallocOrder, FinalizeThenWeakrefCallbacksThenDelThenDestroy)
{
    Lifecycle *o = make(&lc_gc_type);
    ASSERT_NE(o, nullptr);
    tally_object *w1 = tally_weakref_new(&o->ob_base, weakref_cb, (void *)"1");
    tally_object *w2 = tally_weakref_new(&o->ob_base, weakref_cb, (void *)"2");
    tally_object *plain = tally_weakref_new(&o->ob_base, nullptr, nullptr);
    ASSERT_TRUE(w1 && w2 && plain) << tally_last_error();
    rec.weakrefs = {w1, w2, plain};
    tally_object *t = tally_weakref_get(plain);
    EXPECT_EQ(t, &o->ob_base);
    tally_xdecref(t);

    tally_decref(&o->ob_base);
    tally_flush();
    // CPython calls the callbacks newest first.
    EXPECT_EQ(rec.log, "F21DX");
    EXPECT_TRUE(rec.all_cleared_in_callback);
    EXPECT_EQ(tally_weakref_get(w1), nullptr);
    EXPECT_EQ(tally_weakref_get(w2), nullptr);
    EXPECT_EQ(tally_weakref_get(plain), nullptr);
    tally_decref(w1);
    tally_decref(w2);
    tally_decref(plain);
}

TEST_F(DeallocOrder, FinalizeResurrectionStopsAndKeepsWeakrefs)
{
    Lifecycle *o = make(&lc_gc_type);
    ASSERT_NE(o, nullptr);
    tally_object *w = tally_weakref_new(&o->ob_base, weakref_cb, (void *)"w");
    ASSERT_NE(w, nullptr);
    rec.weakrefs = {w};
    rec.finalize_resurrections = 1;

    tally_decref(&o->ob_base);
    tally_flush();
    EXPECT_EQ(rec.log, "F") << "resurrection in finalize must stop the deallocation";
    ASSERT_EQ(rec.saved, &o->ob_base);
    EXPECT_TRUE(tally_gc_is_finalized(&o->ob_base));
    EXPECT_EQ(tally_refcount(&o->ob_base), 1);
    tally_object *alive = tally_weakref_get(w);
    EXPECT_EQ(alive, &o->ob_base) << "weakrefs must survive a finalize resurrection";
    tally_xdecref(alive);

    // Second death: a GC object is finalized at most once.
    rec.saved = nullptr;
    tally_decref(&o->ob_base);
    tally_flush();
    EXPECT_EQ(rec.log, "FwDX");
    EXPECT_EQ(tally_weakref_get(w), nullptr);
    tally_decref(w);
}

TEST_F(DeallocOrder, DelResurrectionStopsButWeakrefsAreGone)
{
    Lifecycle *o = make(&lc_gc_type);
    ASSERT_NE(o, nullptr);
    tally_object *w = tally_weakref_new(&o->ob_base, weakref_cb, (void *)"w");
    ASSERT_NE(w, nullptr);
    rec.weakrefs = {w};
    rec.del_resurrections = 1;

    tally_decref(&o->ob_base);
    tally_flush();
    EXPECT_EQ(rec.log, "FwD");
    ASSERT_EQ(rec.saved, &o->ob_base);
    EXPECT_EQ(tally_refcount(&o->ob_base), 1);
    EXPECT_EQ(tally_weakref_get(w), nullptr) << "weakrefs are cleared before del runs";

    // del has no once-only guard; finalize has (GC type).
    rec.saved = nullptr;
    tally_decref(&o->ob_base);
    tally_flush();
    EXPECT_EQ(rec.log, "FwDDX");
    tally_decref(w);
}

TEST_F(DeallocOrder, NonGcTypeIsFinalizedOnEveryDeath)
{
    Lifecycle *o = make(&lc_plain_type);
    ASSERT_NE(o, nullptr);
    rec.finalize_resurrections = 1;
    tally_decref(&o->ob_base);
    tally_flush();
    EXPECT_EQ(rec.log, "F");
    ASSERT_EQ(rec.saved, &o->ob_base);
    EXPECT_FALSE(tally_gc_is_finalized(&o->ob_base)) << "non-GC objects have no FINALIZED bit";
    rec.saved = nullptr;
    tally_decref(&o->ob_base);
    tally_flush();
    EXPECT_EQ(rec.log, "FFDX");
}

TEST_F(DeallocOrder, DestroyReleasesChildAfterFinalizers)
{
    Lifecycle *parent = make(&lc_finalize_only_type);
    Lifecycle *child = make(&lc_finalize_only_type);
    ASSERT_TRUE(parent && child);
    parent->child = &child->ob_base;
    tally_decref(&parent->ob_base);
    tally_flush();
    // Parent: finalize, destroy (which drops the child: finalize, destroy).
    EXPECT_EQ(rec.log, "FXFX");
}

TEST_F(DeallocOrder, WeakrefDyingFirstNeverCallsItsCallback)
{
    Lifecycle *o = make(&lc_finalize_only_type);
    ASSERT_NE(o, nullptr);
    tally_object *w = tally_weakref_new(&o->ob_base, weakref_cb, (void *)"w");
    ASSERT_NE(w, nullptr);
    tally_decref(w);
    tally_flush();
    tally_decref(&o->ob_base);
    tally_flush();
    EXPECT_EQ(rec.log, "FX");
}

TEST_F(DeallocOrder, ObjectsFreedInsideDestroyAreCounted)
{
    // The memory of every object in this test is returned (alloc stats), finalizers included.
    uint64_t base = baseline_live();
    Lifecycle *o = make(&lc_gc_type);
    ASSERT_NE(o, nullptr);
    o->child = tally_list_new();
    for (int i = 0; i < 10; i++) {
        tally_object *s = tally_str_new("item");
        ASSERT_EQ(tally_list_append(o->child, s), 0);
        tally_decref(s);
    }
    EXPECT_EQ(live_now() - base, 12u);
    tally_decref(&o->ob_base);
    tally_flush();
    EXPECT_EQ(rec.log, "FDX");
    EXPECT_EQ(settled_live(base), base);
}
