// tests/gc/gc_test_types.h - GC object types and a fixture shared by the collector's tests.
#pragma once

#include "tally_test.h"

#include <atomic>
#include <vector>

// A container with two strong references and hooks for finalize/del behaviour.
struct Node {
    TALLY_OBJECT_HEAD;
    tally_object *a;
    tally_object *b;
    int id;
    int magic;   // 0x600D while alive, 0xDEAD after destroy
};

struct NodeLog {
    std::atomic<int> destroyed{0};
    std::atomic<int> finalized{0};
    std::atomic<int> dels{0};
    tally_object *resurrect_into = nullptr;   // finalize/del stores self here (a list) when set
    std::atomic<intptr_t> collect_from_finalizer{-7};
};
inline NodeLog g_log;

inline int node_traverse(tally_object *self, tally_visitproc visit, void *arg)
{
    auto *n = reinterpret_cast<Node *>(self);
    if (n->a) {
        if (int r = visit(n->a, arg))
            return r;
    }
    if (n->b) {
        if (int r = visit(n->b, arg))
            return r;
    }
    return 0;
}
inline int node_clear(tally_object *self)
{
    auto *n = reinterpret_cast<Node *>(self);
    tally_object *a = n->a, *b = n->b;
    n->a = n->b = nullptr;
    tally_xdecref(a);
    tally_xdecref(b);
    return 0;
}
inline void node_destroy(tally_object *self)
{
    auto *n = reinterpret_cast<Node *>(self);
    g_log.destroyed.fetch_add(1);
    n->magic = 0xDEAD;
    node_clear(self);
}
inline void node_finalize(tally_object *self)
{
    g_log.finalized.fetch_add(1);
    if (g_log.resurrect_into)
        tally_list_append(g_log.resurrect_into, self);
}
inline void node_del(tally_object *self)
{
    g_log.dels.fetch_add(1);
}

inline const tally_type node_type = {
    "Node", sizeof(Node), TALLY_TYPE_GC, node_traverse, node_clear, nullptr, nullptr, node_destroy,
};
inline const tally_type fin_node_type = {
    "FinNode", sizeof(Node), TALLY_TYPE_GC, node_traverse, node_clear, node_finalize, nullptr, node_destroy,
};
inline const tally_type del_node_type = {
    "DelNode", sizeof(Node), TALLY_TYPE_GC, node_traverse, node_clear, nullptr, node_del, node_destroy,
};

inline tally_object *node_new(const tally_type *t = &node_type, int id = 0)
{
    auto *n = reinterpret_cast<Node *>(tally_new(t));
    if (n) {
        n->id = id;
        n->magic = 0x600D;
    }
    return &n->ob_base;
}
inline Node *N(tally_object *o) { return reinterpret_cast<Node *>(o); }
// Store a strong reference (steals nothing: increfs target).
inline void node_set_a(tally_object *n, tally_object *t) { tally_xincref(t); tally_xdecref(N(n)->a); N(n)->a = t; }
inline void node_set_b(tally_object *n, tally_object *t) { tally_xincref(t); tally_xdecref(N(n)->b); N(n)->b = t; }

// Each test starts from a clean heap with automatic collection off and restores the settings.
class GcTest : public ::testing::Test {
  protected:
    void SetUp() override
    {
        tally_gc_get_threshold(saved_threshold_);
        saved_enabled_ = tally_gc_is_enabled();
        saved_debug_ = tally_gc_get_debug();
        tally_gc_disable();
        tally_gc_set_debug(0);
        tally_flush();
        tally_gc_collect(2);
        tally_flush();
        g_log.destroyed = 0;
        g_log.finalized = 0;
        g_log.dels = 0;
        g_log.resurrect_into = nullptr;
        g_log.collect_from_finalizer = -7;
    }
    void TearDown() override
    {
        tally_gc_set_debug(0);
        tally_gc_set_incremental(false, 0);
        tally_object *garbage = tally_gc_garbage();
        if (garbage) {
            // Break what the tests left there so later tests start clean.
            while (tally_list_len(garbage) > 0) {
                tally_object *o = tally_list_pop(garbage);
                if (tally_type_of(o) == &node_type || tally_type_of(o) == &fin_node_type ||
                    tally_type_of(o) == &del_node_type)
                    node_clear(o);
                tally_decref(o);
            }
        }
        tally_gc_unfreeze();
        tally_flush();
        tally_gc_collect(2);
        tally_flush();
        tally_gc_set_threshold(saved_threshold_[0], saved_threshold_[1], saved_threshold_[2]);
        tally_gc_set_debug(saved_debug_);
        if (saved_enabled_)
            tally_gc_enable();
        else
            tally_gc_disable();
    }
    // Collect after applying deferred refcount operations.
    static intptr_t collect(int gen)
    {
        tally_flush();
        intptr_t n = tally_gc_collect(gen);
        tally_flush();
        return n;
    }
    static bool list_contains(tally_object *l, tally_object *o)
    {
        bool found = false;
        for (size_t i = 0; i < tally_list_len(l) && !found; i++) {
            tally_object *it = tally_list_get(l, i);   // new reference
            found = it == o;
            tally_xdecref(it);
        }
        return found;
    }
    static bool in_generation(int gen, tally_object *o)
    {
        tally_object *l = tally_gc_get_objects(gen);
        bool r = list_contains(l, o);
        tally_decref(l);
        return r;
    }

    int saved_threshold_[3];
    bool saved_enabled_ = true;
    unsigned saved_debug_ = 0;
};
