package heapbench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;

/**
 * Many small objects for ctxgrab's heap-dump benchmark (benchmarks/bench_heap.py).
 *
 * Run: java -Xmx3g tests/java/HeapBench.java OBJECTS
 *
 * Holds OBJECTS/2 Item objects, each with a byte[8], in shards of 1024: every item is
 * referenced from its shard array and from the next item of the shard (a linked list), so
 * the graph has shared references and long chains, as real heaps do. Prints READY, then
 * waits until stdin is closed.
 */
public class HeapBench {

    static final class Item {
        final long id;
        final byte[] data;
        final Item previous;

        Item(long id, byte[] data, Item previous) {
            this.id = id;
            this.data = data;
            this.previous = previous;
        }
    }

    static Item[][] SHARDS;

    public static void main(String[] args) throws IOException {
        long objects = Long.parseLong(args[0]);
        long items = objects / 2;
        int shards = (int) ((items + 1023) / 1024);
        SHARDS = new Item[shards][];
        long made = 0;
        for (int s = 0; s < shards; s++) {
            int n = (int) Math.min(1024, items - made);
            Item[] shard = new Item[n];
            Item prev = null;
            for (int i = 0; i < n; i++) {
                prev = new Item(made + i, new byte[8], prev);
                shard[i] = prev;
            }
            SHARDS[s] = shard;
            made += n;
        }
        System.out.println("READY pid=" + ProcessHandle.current().pid() + " items=" + made);
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        while (in.readLine() != null) {
            // wait for the benchmark to close stdin
        }
    }
}
