package com.acme.payments;

import com.acme.payments.cache.RedisCache;

/* The payments demo's service: a payment looks its order up in the cache first. */
public final class PaymentService {
    private final RedisCache cache;

    public PaymentService(RedisCache cache) {
        this.cache = cache;
    }

    // (blank lines keep the line numbers of the demo's logs)























    public byte[] process(long orderId) {
        byte[] cached = cache.get("payment:" + orderId);
        return cached;
    }
}
