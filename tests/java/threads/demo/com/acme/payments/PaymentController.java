package com.acme.payments;

/* The payments demo's HTTP entry point. */
public final class PaymentController {
    private final PaymentService service;

    public PaymentController(PaymentService service) {
        this.service = service;
    }

    // (blank lines keep the line numbers of the demo's logs)











































































    public byte[] charge(long orderId) {
        return service.process(orderId);
    }
}
