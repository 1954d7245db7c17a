package com.acme.payments;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.util.HashMap;
import java.util.Map;

/*
 * The payments demo's leaking JVM: a Redis-like response cache that is never evicted.
 *
 * Writes fixtures/demo/heap/ (see the command below): the cache holds ENTRIES entries
 * with a byte[PAYLOAD] each; on "grow K" from stdin it adds K more and answers "OK", so two
 * dumps taken around a grow show the cache growing, as a leak does.
 *
 *   javac -d /tmp/demo tests/java/HeapPaymentsDemo.java
 *   java -Xmx64m -XX:+UseSerialGC -cp /tmp/demo com.acme.payments.HeapPaymentsDemo 3000 2048
 *   jcmd PID GC.class_histogram > fixtures/demo/heap/payments-0800.histo.txt   (minus jcmd's "PID:" line)
 *   echo "grow 3000" to its stdin, then
 *   jcmd PID GC.heap_dump -gz=1 fixtures/demo/heap/payments-0900.hprof.gz
 */
final class CachedResponse {
    final byte[] body;
    final long expiresAtMillis;

    CachedResponse(byte[] body, long expiresAtMillis) {
        this.body = body;
        this.expiresAtMillis = expiresAtMillis;
    }
}

final class RedisCache {
    final Map<String, CachedResponse> entries = new HashMap<>();
}

final class PaymentsService {
    static final RedisCache CACHE = new RedisCache();
}

public class HeapPaymentsDemo {

    static long next;

    static void fill(int n, int payload) {
        for (int i = 0; i < n; i++) {
            long id = next++;
            PaymentsService.CACHE.entries.put("payment:" + id, new CachedResponse(new byte[payload], id));
        }
    }

    public static void main(String[] args) throws IOException {
        int payload = Integer.parseInt(args[1]);
        fill(Integer.parseInt(args[0]), payload);
        System.out.println("READY pid=" + ProcessHandle.current().pid());
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.startsWith("grow ")) {
                fill(Integer.parseInt(line.substring(5).trim()), payload);
                System.out.println("OK entries=" + PaymentsService.CACHE.entries.size());
                System.out.flush();
            }
        }
    }
}
