package com.acme.payments.ws;

import com.acme.payments.cache.RedisCache;

/* WebSocket sessions of the payments demo: each one registered is written to the cache. */
public final class SessionRegistry {
    private final RedisCache cache;

    public SessionRegistry(RedisCache cache) {
        this.cache = cache;
    }

    // (blank lines keep the line numbers of the demo's logs)

















































    public void register(String sessionId) {
        cache.put("ws:" + sessionId, new byte[256]);
    }
}
