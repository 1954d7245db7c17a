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
 * JVM exits and writes the recording.
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
        pricing.start();
        receipts.start();
        System.out.println("RUNNING pid=" + ProcessHandle.current().pid());
        System.out.flush();
        pricing.join();
        receipts.join();
        System.out.println("DONE");
    }
}
