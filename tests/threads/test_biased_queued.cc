// tests/threads/test_biased_queued.cc - biased: owner ids are never reused, and a conditional
// increment refuses an object whose last reference waits in its owner's merge queue.
//
// Owns: the two fixes for the findings of docs/fuzzing.md (fuzz_api_mt_biased).  (1) A thread
// created after another exited must not own that thread's objects (the owner id used to be the
// TLS base, which glibc hands to the next thread on a cached stack): its drop of such an object's
// last reference frees it at once instead of queueing it to itself.  (2) try-incref (here through
// tally_weakref_get) on a QUEUED object: refused when the queue holds the only reference left,
// from the dropping thread and from the owner; granted while another reference is held; and the
// same once the owner merged the object while it was still queued (the in-queue bit).
// Biased only: reads the header fields (include/tally/static/rc_biased.h).
#include "tally_test.h"

#if defined(TALLY_BACKEND_BIASED)

#include <atomic>
#include <thread>

namespace {

struct QItem {
    TALLY_OBJECT_HEAD;
    std::atomic<int> *deaths;
};

void qitem_destroy(tally_object *self) { reinterpret_cast<QItem *>(self)->deaths->fetch_add(1); }

const tally_type qitem_type = {"QueuedItem", sizeof(QItem), 0, nullptr, nullptr, nullptr, nullptr, qitem_destroy};

tally_object *qitem_new(std::atomic<int> *deaths)
{
    auto *it = reinterpret_cast<QItem *>(tally_new(&qitem_type));
    if (!it)
        return nullptr;
    it->deaths = deaths;
    return &it->ob_base;
}

uintptr_t owner_of(tally_object *o) { return tally_atomic_load_relaxed(&o->ob_tid); }
intptr_t state_of(tally_object *o)
{
    return tally_atomic_load_relaxed(&o->ob_ref_shared) & TALLY_REF_SHARED_FLAG_MASK;
}

struct AttachedHere {
    AttachedHere() { EXPECT_EQ(tally_thread_attach(), 0) << tally_last_error(); }
    ~AttachedHere() { tally_thread_release(); }
};

class BiasedQueued : public ::testing::Test {
  protected:
    void SetUp() override
    {
        was_enabled_ = tally_gc_is_enabled();
        tally_gc_disable();   // no stop-the-world while a thread waits attached below
    }
    void TearDown() override
    {
        if (was_enabled_)
            tally_gc_enable();
    }
    bool was_enabled_ = true;
};

}  // namespace

// glibc gives a joined thread's cached stack, and with it its TLS base, to the next thread it
// creates: with the TLS base as the owner id, every second thread below owned the first one's
// objects (seen on this machine in every round).
TEST_F(BiasedQueued, ANewThreadNeverOwnsAnExitedThreadsObjects)
{
    for (int round = 0; round < 20; round++) {
        std::atomic<int> deaths{0};
        tally_object *o = nullptr;
        uintptr_t first_id = 0;
        std::thread a([&] {
            AttachedHere at;
            o = qitem_new(&deaths);   // owned by this thread; the reference goes to the next one
            first_id = _tally_thread_id();
        });
        a.join();
        ASSERT_NE(o, nullptr);
        ASSERT_EQ(owner_of(o), first_id);   // an exited owner's object: not merged until dropped
        std::thread b([&] {
            AttachedHere at;
            EXPECT_NE(_tally_thread_id(), first_id) << "round " << round << ": the id was reused";
            EXPECT_NE(owner_of(o), _tally_thread_id());
            tally_decref(o);   // a non-owner's last drop, owner gone: merged and freed here
            EXPECT_EQ(deaths.load(), 1) << "round " << round << ": the death waits in a queue";
        });
        b.join();
        EXPECT_EQ(deaths.load(), 1);
    }
}

// A thread that drops the last reference to an object another (live, attached) thread owns
// queues it to that owner; a weakref read afterwards must not bring it back, from the dropping
// thread or from the owner, and the owner's merge then frees it exactly once.
TEST_F(BiasedQueued, WeakrefGetRefusesAnObjectWhoseLastReferenceIsQueued)
{
    std::atomic<int> deaths{0};
    tally_object *o = qitem_new(&deaths);   // owned by this thread, local 1
    ASSERT_NE(o, nullptr);
    tally_object *wr = tally_weakref_new(o, nullptr, nullptr);
    ASSERT_NE(wr, nullptr) << tally_last_error();
    std::thread t([&] {
        AttachedHere at;
        tally_decref(o);   // our reference was the owner's local one: QUEUED, owner alive
        EXPECT_EQ(state_of(o), TALLY_REF_QUEUED);
        EXPECT_EQ(tally_refcount(o), 0);
        EXPECT_EQ(tally_weakref_get(wr), nullptr) << "a non-owner revived a queued death";
    });
    t.join();
    EXPECT_EQ(state_of(o), TALLY_REF_QUEUED);   // this thread has not merged yet
    EXPECT_EQ(deaths.load(), 0);
    EXPECT_EQ(tally_weakref_get(wr), nullptr) << "the owner revived a death queued to it";
    tally_safepoint();   // the merge: the queue's reference was the last
    EXPECT_EQ(deaths.load(), 1);
    EXPECT_EQ(tally_weakref_get(wr), nullptr);
    tally_decref(wr);
}

// The same, but the owner still holds a reference: the object is alive and both reads get it.
TEST_F(BiasedQueued, WeakrefGetGrantsAQueuedObjectThatIsStillReferenced)
{
    std::atomic<int> deaths{0};
    tally_object *o = qitem_new(&deaths);
    ASSERT_NE(o, nullptr);
    tally_incref(o);   // local 2: one for the other thread, one kept here
    tally_object *wr = tally_weakref_new(o, nullptr, nullptr);
    ASSERT_NE(wr, nullptr) << tally_last_error();
    std::thread t([&] {
        AttachedHere at;
        tally_decref(o);   // QUEUED; the owner's reference keeps it alive
        EXPECT_EQ(state_of(o), TALLY_REF_QUEUED);
        tally_object *got = tally_weakref_get(wr);
        EXPECT_EQ(got, o) << "a live queued object was refused";
        EXPECT_EQ(tally_refcount(o), 2);
        tally_xdecref(got);
    });
    t.join();
    tally_object *mine = tally_weakref_get(wr);   // the owner's conditional increment
    EXPECT_EQ(mine, o);
    tally_xdecref(mine);
    tally_safepoint();   // merge: count 1 (ours)
    EXPECT_EQ(deaths.load(), 0);
    EXPECT_EQ(tally_refcount(o), 1);
    tally_decref(o);
    EXPECT_EQ(deaths.load(), 1);
    EXPECT_EQ(tally_weakref_get(wr), nullptr);
    tally_decref(wr);
}

// The owner's own count reaches 0 while the object is QUEUED (references counted in the shared
// word came back to the owner and it dropped them): it merges the object, which stays in its
// queue with the queue's reference in the count.  The in-queue bit says so: after every
// reference is gone the count reads 1, but the object is dead - a weakref read must refuse it,
// tally_refcount reads 0, and the queue's merge frees it.
TEST_F(BiasedQueued, OwnerMergeOfAQueuedObjectKeepsTheQueuesReferenceApart)
{
    std::atomic<int> deaths{0};
    tally_object *o = qitem_new(&deaths);   // r1, local 1
    ASSERT_NE(o, nullptr);
    tally_object *wr = tally_weakref_new(o, nullptr, nullptr);
    ASSERT_NE(wr, nullptr) << tally_last_error();
    tally_incref(o);   // r2, local 2: for the first thread
    std::thread drop([&] {
        AttachedHere at;
        tally_decref(o);   // r2 dropped at count 0: QUEUED, local 2 = r1 + the queue's
    });
    drop.join();
    ASSERT_EQ(state_of(o), TALLY_REF_QUEUED);
    std::thread take([&] {
        AttachedHere at;
        tally_incref(o);   // two references counted in the shared word, handed to the owner
        tally_incref(o);
    });
    take.join();
    EXPECT_EQ(tally_refcount(o), 3);
    tally_decref(o);   // local 1
    tally_decref(o);   // local 0 while QUEUED: the owner merges (MERGED, still in its queue)
    EXPECT_EQ(owner_of(o), 0u);
    EXPECT_EQ(state_of(o), TALLY_REF_MERGED);
    EXPECT_NE(tally_atomic_load_relaxed(&o->ob_ref_shared) & TALLY_REF_IN_QUEUE, 0);
    EXPECT_EQ(tally_refcount(o), 1);
    tally_decref(o);   // the last reference: a shared drop; the count still holds the queue's
    EXPECT_EQ(deaths.load(), 0);
    EXPECT_EQ(tally_refcount(o), 0);
    EXPECT_EQ(tally_weakref_get(wr), nullptr) << "revived an object whose only count is its queue's";
    std::thread look([&] {
        AttachedHere at;
        EXPECT_EQ(tally_weakref_get(wr), nullptr);
    });
    look.join();
    tally_safepoint();   // the queue's merge: count 0, freed
    EXPECT_EQ(deaths.load(), 1);
    tally_decref(wr);
}

#endif  // TALLY_BACKEND_BIASED
