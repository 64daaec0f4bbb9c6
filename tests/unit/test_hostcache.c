/*
 * test_hostcache.c - the host's shared cache of what cache misses read:
 * entries copied in and out whole, shared with processes forked after it was
 * made, emptied when full, bad sizes refused, and a process that dies holding
 * its lock leaving it emptied and usable.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "cin_common.h"
#include "cin_hostcache.h"
#include "harness.h"

static unsigned char leaf[700], inter[900], sealed[300];

static void material(cin_hc_material *m, int64_t id, size_t nders)
{
    size_t i;

    memset(m, 0, sizeof(*m));
    for (i = 0; i < sizeof(leaf); i++)
        leaf[i] = (unsigned char)(i * 7 + (size_t)id);
    for (i = 0; i < sizeof(inter); i++)
        inter[i] = (unsigned char)(i * 13);
    for (i = 0; i < sizeof(sealed); i++)
        sealed[i] = (unsigned char)(i ^ (size_t)id);
    m->cert_id = id;
    m->key_id = id + 1000;
    m->flags = id % 2 ? CIN_HC_GENERIC_LEAF : 0;
    m->nders = nders;
    m->ders[0] = leaf;
    m->der_len[0] = sizeof(leaf);
    for (i = 1; i < nders && i < 16; i++) { /* (nders may claim more: refused) */
        m->ders[i] = inter;
        m->der_len[i] = sizeof(inter) - i;
    }
    m->sealed = sealed;
    m->sealed_len = sizeof(sealed);
}

/* id's entry is there, byte for byte as material() makes it. */
static void assert_entry(cin_hostcache *hc, int64_t id, size_t nders)
{
    cin_hc_material want, got;
    size_t i;

    ck_assert_int_eq(cin_hostcache_get(hc, id, &got), CIN_OK);
    material(&want, id, nders);
    ck_assert_int_eq(got.cert_id, id);
    ck_assert_int_eq(got.key_id, id + 1000);
    ck_assert_uint_eq(got.flags, want.flags);
    ck_assert_uint_eq(got.nders, nders);
    for (i = 0; i < nders; i++) {
        ck_assert_uint_eq(got.der_len[i], want.der_len[i]);
        ck_assert_int_eq(memcmp(got.ders[i], want.ders[i], want.der_len[i]), 0);
    }
    ck_assert_uint_eq(got.sealed_len, sizeof(sealed));
    ck_assert_int_eq(memcmp(got.sealed, want.sealed, sizeof(sealed)), 0);
    cin_hc_material_clear(&got);
    ck_assert_ptr_null(got.buf);
}

START_TEST(entries_in_and_out_whole)
{
    cin_hostcache *hc = cin_hostcache_create(1 << 20);
    cin_hc_material m, got;
    cin_hostcache_stats st;

    ck_assert_ptr_nonnull(hc);
    ck_assert_int_eq(cin_hostcache_get(hc, 1, &got), CIN_ENOTFOUND);
    material(&m, 1, 1);
    ck_assert_int_eq(cin_hostcache_put(hc, &m), CIN_OK);
    material(&m, 2, 3);
    ck_assert_int_eq(cin_hostcache_put(hc, &m), CIN_OK);
    assert_entry(hc, 1, 1);
    assert_entry(hc, 2, 3);
    /* one already there is kept: a certificate's bytes never change */
    material(&m, 2, 1);
    ck_assert_int_eq(cin_hostcache_put(hc, &m), CIN_OK);
    assert_entry(hc, 2, 3);
    ck_assert_int_eq(cin_hostcache_get(hc, 3, &got), CIN_ENOTFOUND);
    cin_hostcache_get_stats(hc, &st);
    ck_assert_uint_eq(st.entries, 2);
    ck_assert_uint_eq(st.hits, 3);
    ck_assert_uint_eq(st.misses, 2);
    ck_assert_uint_eq(st.resets, 0);
    /* one that no longer loads is dropped, and may be shared anew */
    cin_hostcache_drop(hc, 2);
    ck_assert_int_eq(cin_hostcache_get(hc, 2, &got), CIN_ENOTFOUND);
    assert_entry(hc, 1, 1);
    cin_hostcache_drop(hc, 99); /* not there: nothing */
    material(&m, 2, 2);
    ck_assert_int_eq(cin_hostcache_put(hc, &m), CIN_OK);
    assert_entry(hc, 2, 2);
    cin_hostcache_get_stats(hc, &st);
    ck_assert_uint_eq(st.entries, 2);
    cin_hostcache_free(hc);
}
END_TEST

START_TEST(bad_sizes_and_entries_are_refused)
{
    cin_hostcache *hc;
    cin_hc_material m;

    ck_assert_ptr_null(cin_hostcache_create(0));
    ck_assert_ptr_null(cin_hostcache_create(CIN_HOSTCACHE_MIN - 1));
    ck_assert_ptr_null(cin_hostcache_create(CIN_HOSTCACHE_MAX + 1));
    hc = cin_hostcache_create(CIN_HOSTCACHE_MIN);
    ck_assert_ptr_nonnull(hc);
    material(&m, 1, 0); /* no certificate */
    ck_assert_int_eq(cin_hostcache_put(hc, &m), CIN_EINVAL);
    material(&m, 1, 17); /* more blocks than an entry holds */
    ck_assert_int_eq(cin_hostcache_put(hc, &m), CIN_EINVAL);
    material(&m, 1, 1);
    m.sealed_len = 0; /* no key */
    ck_assert_int_eq(cin_hostcache_put(hc, &m), CIN_EINVAL);
    material(&m, 1, 16); /* larger than a quarter of the region: not shared */
    ck_assert_int_eq(cin_hostcache_put(hc, &m), CIN_EINVAL);
    material(&m, 1, 1);
    ck_assert_int_eq(cin_hostcache_put(hc, &m), CIN_OK);
    assert_entry(hc, 1, 1);
    cin_hostcache_free(hc);
}
END_TEST

START_TEST(full_region_is_emptied_and_filled_again)
{
    cin_hostcache *hc = cin_hostcache_create(CIN_HOSTCACHE_MIN);
    cin_hc_material m, got;
    cin_hostcache_stats st;
    int64_t id;

    ck_assert_ptr_nonnull(hc);
    for (id = 1; id <= 200; id++) {
        material(&m, id, 2);
        ck_assert_int_eq(cin_hostcache_put(hc, &m), CIN_OK);
        assert_entry(hc, id, 2); /* the newest is always there */
    }
    cin_hostcache_get_stats(hc, &st);
    ck_assert_uint_gt(st.resets, 0);
    ck_assert_uint_lt(st.entries, 200);
    ck_assert_uint_le(st.used, st.size);
    ck_assert_int_eq(cin_hostcache_get(hc, 1, &got), CIN_ENOTFOUND);
    cin_hostcache_free(hc);
}
END_TEST

START_TEST(shared_with_forked_processes)
{
    cin_hostcache *hc = cin_hostcache_create(1 << 20);
    cin_hc_material m;
    int status;
    pid_t pid;

    ck_assert_ptr_nonnull(hc);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        material(&m, 42, 2);
        _exit(cin_hostcache_put(hc, &m) == CIN_OK ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_entry(hc, 42, 2);
    /* and the other way */
    material(&m, 43, 1);
    ck_assert_int_eq(cin_hostcache_put(hc, &m), CIN_OK);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        cin_hc_material got;
        int ok = cin_hostcache_get(hc, 43, &got) == CIN_OK && got.der_len[0] == sizeof(leaf);
        _exit(ok ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cin_hostcache_free(hc);
}
END_TEST

START_TEST(a_holder_that_dies_leaves_it_emptied_and_usable)
{
    cin_hostcache *hc = cin_hostcache_create(1 << 20);
    cin_hc_material m, got;
    cin_hostcache_stats st;
    int status;
    pid_t pid;

    ck_assert_ptr_nonnull(hc);
    material(&m, 7, 1);
    ck_assert_int_eq(cin_hostcache_put(hc, &m), CIN_OK);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (cin_hostcache_hold_lock(hc) == 0)
            raise(SIGKILL); /* killed holding it */
        _exit(1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* the next taker recovers the lock; what the dead one may have been
     * writing is dropped with everything else */
    ck_assert_int_eq(cin_hostcache_get(hc, 7, &got), CIN_ENOTFOUND);
    cin_hostcache_get_stats(hc, &st);
    ck_assert_uint_eq(st.resets, 1);
    ck_assert_uint_eq(st.entries, 0);
    material(&m, 8, 2);
    ck_assert_int_eq(cin_hostcache_put(hc, &m), CIN_OK);
    assert_entry(hc, 8, 2);
    cin_hostcache_free(hc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostcache");
    TCase *tc = tcase_create("hostcache");

    tcase_add_test(tc, entries_in_and_out_whole);
    tcase_add_test(tc, bad_sizes_and_entries_are_refused);
    tcase_add_test(tc, full_region_is_emptied_and_filled_again);
    tcase_add_test(tc, shared_with_forked_processes);
    tcase_add_test(tc, a_holder_that_dies_leaves_it_emptied_and_usable);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
