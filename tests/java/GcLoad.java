import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A small workload whose GC log ctxgrab's tests read.
 *
 * <p>Usage: {@code java -Xmx64m -Xlog:gc*:file=gc.log GcLoad MODE SECONDS [PAUSE_MICROS]}
 *
 * <p>{@code PAUSE_MICROS} (default 0) idles the loop between rounds of garbage, for fewer
 * collections and a smaller log; the retained set follows the clock either way.
 *
 * <ul>
 *   <li>{@code leak}: a cache without TTL and a session list nothing removes from; the retained
 *       set grows with time from about 10% to about 60% of the max heap by the end of the run.
 *   <li>{@code stable}: a large bounded cache (about 50% of the max heap) filled at start, then
 *       entries are replaced at the same rate the leak adds them, so old objects die and the live
 *       set stays flat. This is the control: big but not a leak.
 * </ul>
 * Both modes also churn short-lived garbage so young collections run continuously, and keep a ring
 * of "recent requests" that live long enough to be promoted before they die, so the old
 * generation also fills with garbage and full or mixed collections run during the whole run. The retained
 * size is driven by elapsed time, not by loop speed, so a busy machine changes the number of
 * collections but not the shape of the live set.
 */
public final class GcLoad {
    static final int ENTRY_BYTES = 4096;
    static final class Session {
        final long id;
        final byte[] state;
        Session(long id) { this.id = id; this.state = new byte[ENTRY_BYTES]; }
    }

    static volatile Object sink;
    // Static, as leaking caches usually are: they stay reachable until the JVM exits, so a
    // collection that runs while the JVM shuts down does not see them die.
    static final Map<Long, byte[]> cache = new HashMap<>();
    static final List<Session> sessions = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "leak";
        double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 4.0;
        long pauseMicros = args.length > 2 ? Long.parseLong(args[2]) : 0;
        long max = Runtime.getRuntime().maxMemory();
        long entryCost = ENTRY_BYTES + 64;
        ArrayDeque<Long> order = new ArrayDeque<>();
        long key = 0;
        if (!mode.equals("leak") && !mode.equals("stable")) {
            System.err.println("usage: GcLoad leak|stable SECONDS");
            System.exit(2);
        }
        long n0 = (long) (max * (mode.equals("stable") ? 0.50 : 0.10)) / entryCost;
        for (long i = 0; i < n0; i++) { cache.put(key, new byte[ENTRY_BYTES]); order.add(key); key++; }
        byte[][] recent = new byte[512][];
        int recentPos = 0;
        long leakTargetBytes = (long) (max * 0.50);
        long start = System.nanoTime();
        long added = 0;
        while (true) {
            double elapsed = (System.nanoTime() - start) / 1e9;
            if (elapsed >= seconds) break;
            long wanted = (long) (elapsed / seconds * leakTargetBytes / entryCost);
            while (added < wanted) {
                if (mode.equals("leak")) {
                    if ((added & 1) == 0) cache.put(key++, new byte[ENTRY_BYTES]);
                    else sessions.add(new Session(key++));
                } else {
                    cache.remove(order.poll());
                    cache.put(key, new byte[ENTRY_BYTES]);
                    order.add(key++);
                }
                added++;
            }
            for (int i = 0; i < 2000; i++) sink = new byte[256];  // short-lived garbage
            for (int i = 0; i < 8; i++) {  // medium-lived: survives a few young GCs, then dies
                recent[recentPos] = new byte[2048];
                recentPos = (recentPos + 1) % recent.length;
            }
            if (pauseMicros > 0) Thread.sleep(pauseMicros / 1000, (int) (pauseMicros % 1000) * 1000);
        }
        System.out.println(mode + " entries=" + (cache.size() + sessions.size()));
    }
}
