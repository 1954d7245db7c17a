package jfrtest;

import java.util.ArrayList;
import java.util.List;

/*
 * A JVM with one CPU-hot method and one allocation-heavy method, for the JFR tests
 * (tests/test_threads_jvm.py):
 *
 *   java -Xmx64m -XX:StartFlightRecording=filename=hot.jfr,settings=profile tests/java/threads/HotLoop.java MILLIS
 *
 * "pricing" spins in Pricing.score (arithmetic, no allocation); "receipts" allocates in
 * Receipts.render (a new byte[16 KiB] per receipt, kept briefly). Both run for MILLIS ms, then the
 * JVM exits and writes the recording. Four "clerk" threads contend for Ledger's monitor and lock.
 */
public class HotLoop {
    static final class Pricing {
        static long score(long seed) {
            long x = seed;
            for (int i = 0; i < 50_000; i++) {
                x = x * 6364136223846793005L + 1442695040888963407L;
                x ^= (x >>> 29);
            }
            return x;
        }
    }

    static final class Receipts {
        static final List<byte[]> RECENT = new ArrayList<>();

        static int render(int n) {
            byte[] body = new byte[16 * 1024];
            body[n % body.length] = (byte) n;
            RECENT.add(body);
            if (RECENT.size() > 64) {
                RECENT.clear();
            }
            return body.length;
        }
    }

    /* Threads take turns on one monitor and on one ReentrantLock, holding each for 30 ms: JFR's
     * profile settings record monitor waits (jdk.JavaMonitorEnter) and parks (jdk.ThreadPark)
     * longer than 20 ms. */
    static final class Ledger {
        static final Object BOOK = new Object();
        static final java.util.concurrent.locks.ReentrantLock JOURNAL = new java.util.concurrent.locks.ReentrantLock();

        static void post() throws InterruptedException {
            synchronized (BOOK) {
                Thread.sleep(30);
            }
        }

        static void journal() throws InterruptedException {
            JOURNAL.lock();
            try {
                Thread.sleep(30);
            } finally {
                JOURNAL.unlock();
            }
        }
    }

    static volatile long sink;

    public static void main(String[] args) throws Exception {
        long millis = Long.parseLong(args[0]);
        long end = System.currentTimeMillis() + millis;
        Thread pricing = new Thread(() -> {
            long s = 1;
            while (System.currentTimeMillis() < end) {
                s = Pricing.score(s);
            }
            sink = s;
        }, "pricing");
        Thread receipts = new Thread(() -> {
            long total = 0;
            int n = 0;
            while (System.currentTimeMillis() < end) {
                total += Receipts.render(n++);
            }
            sink = total;
        }, "receipts");
        // Clerks 1 and 2 contend for the monitor only, 3 and 4 for the lock only: always one waits.
        Thread[] clerks = new Thread[4];
        for (int i = 0; i < clerks.length; i++) {
            boolean monitor = i < 2;
            clerks[i] = new Thread(() -> {
                try {
                    while (System.currentTimeMillis() < end) {
                        if (monitor) {
                            Ledger.post();
                        } else {
                            Ledger.journal();
                        }
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "clerk-" + (i + 1));
            clerks[i].start();
        }
        pricing.start();
        receipts.start();
        System.out.println("RUNNING pid=" + ProcessHandle.current().pid());
        System.out.flush();
        pricing.join();
        receipts.join();
        for (Thread c : clerks) {
            c.join();
        }
        System.out.println("DONE");
    }
}
