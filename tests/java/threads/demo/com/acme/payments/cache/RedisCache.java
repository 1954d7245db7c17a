package com.acme.payments.cache;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/*
 * The payments demo's response cache, for its thread dump (see ThreadsDemo). One monitor guards the
 * map: while put() copies a growing buffer under it (a heap near its limit makes that slow), every
 * get() waits to lock it.
 */
public final class RedisCache {
    private final Map<String, byte[]> entries = new HashMap<>();
    private byte[] journal = new byte[1024];
    public static volatile boolean slow;
    public static volatile long sink;

    public synchronized byte[] get(String key) {
        return entries.get(key);
    }

    // (blank lines keep the line numbers of the demo's logs)



























































































    public synchronized void put(String key, byte[] value) {
        entries.put(key, value);
        do {
            journal = Arrays.copyOf(journal, journal.length < (1 << 20) ? journal.length * 2 : 1024);
            sink += journal.length;
        } while (slow);
    }
}
