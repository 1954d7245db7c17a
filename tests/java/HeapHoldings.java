package heaptest;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A JVM with known holdings for ctxgrab's heap-dump tests.
 *
 * Run: java tests/java/HeapHoldings.java ENTRIES PAYLOAD_BYTES SESSIONS SESSION_BYTES
 *
 * Holds a cache (one instance of ResponseCache, a HashMap of ENTRIES entries, each with a
 * byte[PAYLOAD_BYTES] payload) and a registry of SESSIONS sessions that are never removed
 * (each with a byte[SESSION_BYTES] of attributes). Prints one READY line with what it
 * allocated, then reads commands from stdin until it is closed: "sessions K" registers K more
 * sessions (the registry grows, as a leak does) and answers "OK".
 */
public class HeapHoldings {

    static final class ResponseCache {
        final Map<String, CacheEntry> entries = new HashMap<>();
    }

    static final class CacheEntry {
        final byte[] payload;
        final long storedAtMillis;

        CacheEntry(byte[] payload, long storedAtMillis) {
            this.payload = payload;
            this.storedAtMillis = storedAtMillis;
        }
    }

    static final class Session {
        final long sessionId;
        final byte[] attributes;

        Session(long sessionId, byte[] attributes) {
            this.sessionId = sessionId;
            this.attributes = attributes;
        }
    }

    static final class SessionRegistry {
        static final List<Session> SESSIONS = new ArrayList<>();
    }

    static final ResponseCache CACHE = new ResponseCache();

    public static void main(String[] args) throws IOException {
        int entries = Integer.parseInt(args[0]);
        int payloadBytes = Integer.parseInt(args[1]);
        int sessions = Integer.parseInt(args[2]);
        int sessionBytes = Integer.parseInt(args[3]);
        for (int i = 0; i < entries; i++) {
            byte[] p = new byte[payloadBytes];
            p[i % payloadBytes] = (byte) i;
            CACHE.entries.put("key-" + i, new CacheEntry(p, i));
        }
        for (int i = 0; i < sessions; i++) {
            SessionRegistry.SESSIONS.add(new Session(i, new byte[sessionBytes]));
        }
        System.out.println("READY pid=" + ProcessHandle.current().pid()
                + " cache_payload_bytes=" + ((long) entries * payloadBytes)
                + " session_bytes=" + ((long) sessions * sessionBytes));
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        long next = sessions;
        while ((line = in.readLine()) != null) {
            if (line.startsWith("sessions ")) {
                int more = Integer.parseInt(line.substring(9).trim());
                for (int i = 0; i < more; i++) {
                    SessionRegistry.SESSIONS.add(new Session(next++, new byte[sessionBytes]));
                }
                System.out.println("OK sessions=" + SessionRegistry.SESSIONS.size());
                System.out.flush();
            }
        }
    }
}
