package threadtest;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/*
 * A JVM in trouble, for the thread-dump tests (tests/test_threads_jvm.py).
 *
 *   java -Xmx32m tests/java/threads/ThreadTrouble.java POOL IDLE
 *
 * - "ledger-writer" and "audit-writer" deadlock on two monitors (Ledger, AuditLog);
 * - "refund-worker" and "settle-worker" deadlock on two ReentrantLocks;
 * - a fixed pool of POOL threads (pool-1-thread-N) runs 3×POOL tasks that each borrow one of two
 *   connections from ConnectionPool (a Semaphore): two threads hold a connection in a slow query, the
 *   rest park in ConnectionPool.getConnection: the pool is exhausted waiting on the slow resource;
 * - a second fixed pool of IDLE threads (pool-2-thread-N) has nothing to do;
 * - two threads with non-ASCII names ("支付-выплата-1", "支付-выплата-2") park for ever;
 * - "leak K" on stdin starts K more threads named "leaky-N" that park for ever; "echo X" prints X.
 *
 * It prints "READY pid=…" once both deadlocks are seen by the JVM (ThreadMXBean) and every pool
 * thread is started, and "LEAKED total=N" after each "leak K".
 */
public class ThreadTrouble {
    static final class Ledger { }
    static final class AuditLog { }

    static final Ledger LEDGER = new Ledger();
    static final AuditLog AUDIT = new AuditLog();
    static final ReentrantLock REFUNDS = new ReentrantLock();
    static final ReentrantLock SETTLEMENTS = new ReentrantLock();

    static void writeLedgerThenAudit(CountDownLatch both) {
        synchronized (LEDGER) {
            both.countDown();
            await(both);
            synchronized (AUDIT) {
                System.out.println("unreachable");
            }
        }
    }

    static void writeAuditThenLedger(CountDownLatch both) {
        synchronized (AUDIT) {
            both.countDown();
            await(both);
            synchronized (LEDGER) {
                System.out.println("unreachable");
            }
        }
    }

    static void lockBoth(ReentrantLock first, ReentrantLock second, CountDownLatch both) {
        first.lock();
        try {
            both.countDown();
            await(both);
            second.lock();
            second.unlock();
        } finally {
            first.unlock();
        }
    }

    static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static final class ConnectionPool {
        final Semaphore connections = new Semaphore(2);

        void getConnection() throws InterruptedException {
            connections.acquire();
        }

        void release() {
            connections.release();
        }
    }

    static final class SlowDatabase {
        final ConnectionPool pool = new ConnectionPool();

        void slowQuery() throws InterruptedException {
            Thread.sleep(600_000);
        }

        void query() throws InterruptedException {
            pool.getConnection();
            try {
                slowQuery();
            } finally {
                pool.release();
            }
        }
    }

    static final List<Thread> LEAKED = new ArrayList<>();

    static void leak(int k) {
        for (int i = 0; i < k; i++) {
            Thread t = new Thread(() -> {
                while (true) {
                    LockSupport.park();
                }
            }, "leaky-" + (LEAKED.size() + 1));
            t.setDaemon(true);
            t.start();
            LEAKED.add(t);
        }
    }

    static void daemon(String name, Runnable r) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        t.start();
    }

    public static void main(String[] args) throws Exception {
        int poolSize = Integer.parseInt(args[0]);
        int idleSize = Integer.parseInt(args[1]);
        CountDownLatch monitors = new CountDownLatch(2);
        daemon("ledger-writer", () -> writeLedgerThenAudit(monitors));
        daemon("audit-writer", () -> writeAuditThenLedger(monitors));
        CountDownLatch locks = new CountDownLatch(2);
        daemon("refund-worker", () -> lockBoth(REFUNDS, SETTLEMENTS, locks));
        daemon("settle-worker", () -> lockBoth(SETTLEMENTS, REFUNDS, locks));

        // Thread names are not ASCII everywhere: two parked workers named in Chinese and Russian.
        for (int i = 1; i <= 2; i++) {
            daemon("支付-выплата-" + i, () -> {
                while (true) {
                    LockSupport.park();
                }
            });
        }
        SlowDatabase db = new SlowDatabase();
        ExecutorService pool = Executors.newFixedThreadPool(poolSize);
        CountDownLatch started = new CountDownLatch(poolSize);
        for (int i = 0; i < 3 * poolSize; i++) {
            pool.submit(() -> {
                started.countDown();
                db.query();
                return null;
            });
        }
        ExecutorService idle = Executors.newFixedThreadPool(idleSize);
        CountDownLatch idleStarted = new CountDownLatch(idleSize);
        for (int i = 0; i < idleSize; i++) {
            idle.submit(idleStarted::countDown);
        }
        started.await();
        idleStarted.await();
        // Ready when the JVM itself sees both deadlocks (4 threads) and the pool has parked.
        var mx = ManagementFactory.getThreadMXBean();
        while (true) {
            long[] dead = mx.findDeadlockedThreads();
            boolean parked = db.pool.connections.getQueueLength() >= poolSize - 2;
            if (dead != null && dead.length == 4 && parked) {
                break;
            }
            Thread.onSpinWait();
        }
        System.out.println("READY pid=" + ProcessHandle.current().pid());
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.startsWith("leak ")) {
                leak(Integer.parseInt(line.substring(5).trim()));
                System.out.println("LEAKED total=" + LEAKED.size());
                System.out.flush();
            } else if (line.startsWith("echo ")) {
                System.out.println(line.substring(5));
                System.out.flush();
            }
        }
        System.exit(0);
    }
}
