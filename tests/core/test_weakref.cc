// tests/core/test_weakref.cc - weak references, per backend.
//
// Owns: tally_weakref_new/get semantics: a live referent is returned as a new reference, a
// dead one as NULL; on the referent's death every weakref is cleared before any callback runs,
// callbacks run once each, newest first, with their argument; a weakref that dies first (or is
// itself being deallocated) never calls back; callback-less weakrefs are shared (CPython);
// weakrefs to immortal objects never die; many referents and weakrefs spread over the table.
// Deaths are observed after tally_flush() (the deferred backend applies decrements lazily).
#include "tally_test.h"

#include <string>
#include <vector>

namespace {

intptr_t rc(tally_object *o)
{
    tally_flush();
    return tally_refcount(o);
}

struct CallLog {
    std::vector<std::string> calls;
    std::vector<tally_object *> must_be_cleared;   // checked at every callback
    int cleared_violations = 0;
    int self_get_non_null = 0;
};

struct CbArg {
    CallLog *log;
    std::string name;
};

void record_cb(tally_object *wr, void *arg)
{
    auto *a = static_cast<CbArg *>(arg);
    a->log->calls.push_back(a->name);
    if (tally_weakref_get(wr) != nullptr)
        a->log->self_get_non_null++;
    for (tally_object *w : a->log->must_be_cleared) {
        tally_object *t = tally_weakref_get(w);
        if (t) {
            a->log->cleared_violations++;
            tally_decref(t);
        }
    }
}

} // namespace

TEST(Weakref, GetReturnsANewReferenceWhileAlive)
{
    tally_object *t = tally_list_new();
    tally_object *w = tally_weakref_new(t, nullptr, nullptr);
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(tally_type_of(w), &tally_weakref_type);
    EXPECT_EQ(rc(t), 1) << "a weakref holds no strong reference";
    tally_object *g = tally_weakref_get(w);
    EXPECT_EQ(g, t);
    EXPECT_EQ(rc(t), 2);
    tally_decref(g);
    EXPECT_EQ(rc(t), 1);
    tally_decref(t);
    tally_flush();
    EXPECT_EQ(tally_weakref_get(w), nullptr);
    EXPECT_EQ(tally_weakref_get(w), nullptr);
    tally_decref(w);
}

TEST(Weakref, WorksForEveryKindOfReferent)
{
    std::atomic<int> destroyed{0};
    std::vector<tally_object *> targets = {tally_str_new("s"), tally_int_new(123456789), tally_tuple_new(0, nullptr),
                                           tally_dict_new(), &counted_new(&destroyed)->ob_base};
    std::vector<tally_object *> refs;
    for (tally_object *t : targets) {
        refs.push_back(tally_weakref_new(t, nullptr, nullptr));
        ASSERT_NE(refs.back(), nullptr);
        tally_object *g = tally_weakref_get(refs.back());
        EXPECT_EQ(g, t);
        tally_xdecref(g);
    }
    // A weakref to a weakref.
    tally_object *ww = tally_weakref_new(refs[0], nullptr, nullptr);
    tally_object *g = tally_weakref_get(ww);
    EXPECT_EQ(g, refs[0]);
    tally_xdecref(g);
    for (tally_object *t : targets)
        tally_decref(t);
    tally_flush();
    EXPECT_EQ(destroyed.load(), 1);
    for (tally_object *w : refs) {
        EXPECT_EQ(tally_weakref_get(w), nullptr);
        tally_decref(w);
    }
    tally_flush();
    EXPECT_EQ(tally_weakref_get(ww), nullptr) << "the weakref it pointed to died";
    tally_decref(ww);
}

TEST(Weakref, ImmortalReferentsNeverDie)
{
    tally_object *w = tally_weakref_new(tally_none(), nullptr, nullptr);
    tally_object *w2 = tally_weakref_new(tally_int_new(3), nullptr, nullptr);
    for (int i = 0; i < 3; i++) {
        EXPECT_EQ(tally_weakref_get(w), tally_none());
        EXPECT_EQ(tally_weakref_get(w2), tally_int_new(3));
    }
    tally_decref(w);
    tally_decref(w2);
    EXPECT_TRUE(tally_is_immortal(tally_none()));
}

TEST(Weakref, CallbacksRunOnceNewestFirstAfterEveryRefIsCleared)
{
    CallLog log;
    CbArg a{&log, "first"}, b{&log, "second"}, c{&log, "third"};
    tally_object *t = tally_dict_new();
    tally_object *w1 = tally_weakref_new(t, record_cb, &a);
    tally_object *plain = tally_weakref_new(t, nullptr, nullptr);
    tally_object *w2 = tally_weakref_new(t, record_cb, &b);
    tally_object *w3 = tally_weakref_new(t, record_cb, &c);
    ASSERT_NE(w1, w2);
    ASSERT_NE(w2, w3);
    log.must_be_cleared = {w1, w2, w3, plain};
    tally_decref(t);
    tally_flush();
    EXPECT_EQ(log.calls, std::vector<std::string>({"third", "second", "first"}));
    EXPECT_EQ(log.cleared_violations, 0) << "every weakref must be cleared before the first callback";
    EXPECT_EQ(log.self_get_non_null, 0);
    log.must_be_cleared.clear();
    // Dropping the weakrefs afterwards runs nothing more.
    for (tally_object *w : {w1, w2, w3, plain})
        tally_decref(w);
    tally_flush();
    EXPECT_EQ(log.calls.size(), 3u);
}

TEST(Weakref, CallbackGetsItsWeakrefAndArgument)
{
    struct Seen {
        tally_object *wr = nullptr;
        void *arg = nullptr;
        int calls = 0;
    } seen;
    auto cb = [](tally_object *wr, void *arg) {
        auto *s = static_cast<Seen *>(arg);
        s->wr = wr;
        s->arg = arg;
        s->calls++;
    };
    tally_object *t = tally_str_new("target");
    tally_object *w = tally_weakref_new(t, cb, &seen);
    tally_decref(t);
    tally_flush();
    EXPECT_EQ(seen.calls, 1);
    EXPECT_EQ(seen.wr, w);
    EXPECT_EQ(seen.arg, &seen);
    EXPECT_EQ(rc(w), 1) << "the reference held across the callback is released";
    tally_decref(w);
}

TEST(Weakref, WeakrefThatDiesFirstNeverCallsBack)
{
    CallLog log;
    CbArg a{&log, "dead-first"}, b{&log, "survivor"};
    tally_object *t = tally_list_new();
    tally_object *w1 = tally_weakref_new(t, record_cb, &a);
    tally_object *w2 = tally_weakref_new(t, record_cb, &b);
    tally_decref(w1);
    tally_flush();
    EXPECT_TRUE(log.calls.empty());
    tally_decref(t);
    tally_flush();
    EXPECT_EQ(log.calls, std::vector<std::string>({"survivor"}));
    tally_decref(w2);
}

TEST(Weakref, WeakrefBeingDeallocatedNeverCallsBack)
{
    // W refers to T.  W2 refers to W, and W2's callback drops the last reference to T.  So
    // when W dies, W's deallocation runs W2's callback, which kills T while W is still being
    // deallocated (count zero, still listed as T's weakref): W's callback must not run.
    CallLog log;
    CbArg w_arg{&log, "W"};
    struct Ctx {
        CallLog *log;
        tally_object *t;
    } ctx{&log, nullptr};
    auto drop_t = [](tally_object *, void *arg) {
        auto *c = static_cast<Ctx *>(arg);
        c->log->calls.push_back("W2");
        tally_object *t = c->t;
        c->t = nullptr;
        tally_decref(t);
        tally_flush();
    };
    ctx.t = tally_list_new();
    tally_object *w = tally_weakref_new(ctx.t, record_cb, &w_arg);
    tally_object *w2 = tally_weakref_new(w, drop_t, &ctx);
    tally_decref(w);
    tally_flush();
    EXPECT_EQ(ctx.t, nullptr);
    EXPECT_EQ(log.calls, std::vector<std::string>({"W2"}));
    EXPECT_EQ(tally_weakref_get(w2), nullptr);
    tally_decref(w2);
}

TEST(Weakref, CallbackMayReleaseAnotherClearedWeakref)
{
    // The newest callback drops the last outside reference to an older weakref of the same
    // referent.  That weakref was cleared first and is held by the clearing thread across the
    // callbacks, so it still calls back, exactly once, after the newer one.
    CallLog log;
    CbArg a{&log, "victim"};
    struct Ctx {
        tally_object *victim = nullptr;
        CallLog *log = nullptr;
    } ctx;
    ctx.log = &log;
    auto killer = [](tally_object *, void *arg) {
        auto *c = static_cast<Ctx *>(arg);
        c->log->calls.push_back("killer");
        tally_object *v = c->victim;
        c->victim = nullptr;
        tally_xdecref(v);
    };
    tally_object *t = tally_list_new();
    ctx.victim = tally_weakref_new(t, record_cb, &a);    // older: runs second
    tally_object *k = tally_weakref_new(t, killer, &ctx); // newer: runs first
    tally_decref(t);
    tally_flush();
    EXPECT_EQ(log.calls, std::vector<std::string>({"killer", "victim"}));
    tally_decref(k);
}

TEST(Weakref, CallbacklessWeakrefsAreShared)
{
    tally_object *t = tally_list_new();
    tally_object *a = tally_weakref_new(t, nullptr, nullptr);
    tally_object *b = tally_weakref_new(t, nullptr, nullptr);
    EXPECT_EQ(a, b) << "CPython hands out the same basic ref";
    EXPECT_EQ(rc(a), 2);
    CallLog log;
    CbArg x{&log, "x"};
    tally_object *c = tally_weakref_new(t, record_cb, &x);
    EXPECT_NE(c, a) << "a weakref with a callback is always new";
    tally_decref(a);
    tally_decref(b);
    tally_flush();
    // The basic ref died; a new request makes a new one that works.
    tally_object *d = tally_weakref_new(t, nullptr, nullptr);
    tally_object *g = tally_weakref_get(d);
    EXPECT_EQ(g, t);
    tally_xdecref(g);
    tally_decref(t);
    tally_flush();
    EXPECT_EQ(log.calls, std::vector<std::string>({"x"}));
    EXPECT_EQ(tally_weakref_get(d), nullptr);
    tally_decref(c);
    tally_decref(d);
}

TEST(Weakref, ReusedAddressesDoNotInheritWeakrefs)
{
    // Addresses are reused: a new object at a dead referent's address must not inherit its
    // (cleared) weakrefs.
    std::vector<tally_object *> dead_refs;
    for (int i = 0; i < 200; i++) {
        tally_object *t = tally_list_new();
        dead_refs.push_back(tally_weakref_new(t, nullptr, nullptr));
        tally_decref(t);
    }
    tally_flush();
    for (int i = 0; i < 200; i++) {
        tally_object *t = tally_list_new();
        tally_object *w = tally_weakref_new(t, nullptr, nullptr);
        for (tally_object *d : dead_refs)
            ASSERT_NE(d, w);
        tally_object *g = tally_weakref_get(w);
        ASSERT_EQ(g, t);
        tally_decref(g);
        tally_decref(w);
        tally_decref(t);
    }
    for (tally_object *d : dead_refs) {
        EXPECT_EQ(tally_weakref_get(d), nullptr);
        tally_decref(d);
    }
}

TEST(Weakref, ManyReferentsAndWeakrefs)
{
    constexpr int N = 3000;
    CallLog log;
    std::vector<CbArg> args;
    args.reserve(N);
    std::vector<tally_object *> targets, refs, cbrefs;
    for (int i = 0; i < N; i++) {
        targets.push_back(tally_list_new());
        refs.push_back(tally_weakref_new(targets[i], nullptr, nullptr));
        args.push_back(CbArg{&log, std::to_string(i)});
        cbrefs.push_back(tally_weakref_new(targets[i], record_cb, &args.back()));
    }
    // Kill the even referents.
    for (int i = 0; i < N; i += 2)
        tally_decref(targets[i]);
    tally_flush();
    EXPECT_EQ(log.calls.size(), size_t(N / 2));
    for (int i = 0; i < N; i++) {
        tally_object *g = tally_weakref_get(refs[i]);
        if (i % 2 == 0) {
            EXPECT_EQ(g, nullptr) << i;
        } else {
            EXPECT_EQ(g, targets[i]) << i;
        }
        tally_xdecref(g);
    }
    // Drop the callback refs of the odd ones first: their referents' deaths run nothing.
    for (int i = 1; i < N; i += 2)
        tally_decref(cbrefs[i]);
    for (int i = 1; i < N; i += 2)
        tally_decref(targets[i]);
    tally_flush();
    EXPECT_EQ(log.calls.size(), size_t(N / 2));
    for (int i = 0; i < N; i++) {
        EXPECT_EQ(tally_weakref_get(refs[i]), nullptr);
        tally_decref(refs[i]);
        if (i % 2 == 0)
            tally_decref(cbrefs[i]);
    }
}

// ---- with the cycle collector ---------------------------------------------------------------

TEST(Weakref, CollectorClearsWeakrefsToCyclicTrashAndRunsLiveCallbacks)
{
    CallLog log;
    CbArg a{&log, "live"};
    tally_object *l = tally_list_new();
    ASSERT_EQ(tally_list_append(l, l), 0);   // a self-cycle: only the collector frees it
    tally_object *w = tally_weakref_new(l, record_cb, &a);
    tally_object *plain = tally_weakref_new(l, nullptr, nullptr);
    log.must_be_cleared = {w, plain};
    tally_decref(l);
    tally_flush();
    EXPECT_TRUE(log.calls.empty()) << "the cycle is still alive before a collection";
    tally_object *g = tally_weakref_get(plain);
    EXPECT_EQ(g, l);
    tally_xdecref(g);
    EXPECT_GE(tally_gc_collect(2), 1);
    tally_flush();
    EXPECT_EQ(log.calls, std::vector<std::string>({"live"}));
    EXPECT_EQ(log.cleared_violations, 0);
    EXPECT_EQ(tally_weakref_get(w), nullptr);
    EXPECT_EQ(tally_weakref_get(plain), nullptr);
    tally_decref(w);
    tally_decref(plain);
}

TEST(Weakref, WeakrefThatIsPartOfTheTrashNeverCallsBack)
{
    // d -> w (a weakref with a callback to d), d -> d: the weakref is reachable only from the
    // trash, so it is trash itself and its callback must not run (CPython handle_weakrefs).
    CallLog log;
    CbArg a{&log, "trash"};
    tally_object *d = tally_dict_new();
    tally_object *w = tally_weakref_new(d, record_cb, &a);
    ASSERT_EQ(tally_dict_set(d, tally_int_new(1), w), 0);
    ASSERT_EQ(tally_dict_set(d, tally_int_new(2), d), 0);
    tally_decref(w);
    tally_decref(d);
    EXPECT_GE(tally_gc_collect(2), 2);
    tally_flush();
    EXPECT_TRUE(log.calls.empty());
}
