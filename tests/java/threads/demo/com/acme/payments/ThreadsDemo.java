package com.acme.payments;

import com.acme.payments.cache.RedisCache;
import com.acme.payments.ws.SessionRegistry;
import java.lang.management.ManagementFactory;
import java.lang.management.MonitorInfo;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.channels.Selector;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/*
 * The payments demo's JVM at 11:58, for fixtures/demo/threads/ (see generate.py there): the request
 * threads (http-nio-8080-exec-N) wait to lock the RedisCache monitor, which one WebSocket session
 * thread (ws-session-N) holds while it copies a growing buffer in RedisCache.put, called from
 * SessionRegistry.register; the other session threads wait for the same monitor.
 *
 *   java ThreadsDemo HTTP_THREADS BUSY_HTTP WS_THREADS
 *
 * prints "READY pid=…" once every busy thread is BLOCKED on the cache, then waits to be killed.
 */
public final class ThreadsDemo {
    static ThreadFactory named(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    static String cacheHolder(ThreadMXBean mx) {
        for (ThreadInfo ti : mx.dumpAllThreads(true, false)) {
            for (MonitorInfo m : ti.getLockedMonitors()) {
                if (m.getClassName().equals(RedisCache.class.getName())) {
                    return ti.getThreadName();
                }
            }
        }
        return null;
    }

    static int blockedOnCache(ThreadMXBean mx) {
        int n = 0;
        for (ThreadInfo ti : mx.dumpAllThreads(false, false)) {
            if (ti.getThreadState() == Thread.State.BLOCKED && ti.getLockName() != null
                    && ti.getLockName().startsWith(RedisCache.class.getName())) {
                n++;
            }
        }
        return n;
    }

    public static void main(String[] args) throws Exception {
        int httpThreads = Integer.parseInt(args[0]);
        int busyHttp = Integer.parseInt(args[1]);
        int wsThreads = Integer.parseInt(args[2]);
        RedisCache cache = new RedisCache();
        RedisCache.slow = true;
        SessionRegistry sessions = new SessionRegistry(cache);
        PaymentController controller = new PaymentController(new PaymentService(cache));
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();

        ThreadPoolExecutor ws = new ThreadPoolExecutor(wsThreads, wsThreads, 60, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), named("ws-session-"));
        ws.prestartAllCoreThreads();
        ws.submit(() -> sessions.register("b9f8a6ee45432b81"));
        while (cacheHolder(mx) == null) {
            Thread.onSpinWait();
        }
        for (int i = 1; i < wsThreads; i++) {
            String id = Long.toHexString(0x6927f82221185d4eL + i);
            ws.submit(() -> sessions.register(id));
        }
        ThreadPoolExecutor http = new ThreadPoolExecutor(httpThreads, httpThreads, 60, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), named("http-nio-8080-exec-"));
        http.prestartAllCoreThreads();
        for (int i = 0; i < busyHttp; i++) {
            long order = 278905 + i;
            http.submit(() -> controller.charge(order));
        }
        ServerSocket listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(() -> {
            try {
                listener.accept();
            } catch (Exception e) {
                // closed at exit
            }
        }, "http-nio-8080-Acceptor");
        acceptor.setDaemon(true);
        acceptor.start();
        Selector selector = Selector.open();
        Thread poller = new Thread(() -> {
            try {
                selector.select();
            } catch (Exception e) {
                // closed at exit
            }
        }, "http-nio-8080-Poller");
        poller.setDaemon(true);
        poller.start();
        ScheduledThreadPoolExecutor housekeeper = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "HikariPool-1 housekeeper");
            t.setDaemon(true);
            return t;
        });
        housekeeper.scheduleWithFixedDelay(() -> { }, 30, 30, TimeUnit.SECONDS);
        while (blockedOnCache(mx) < busyHttp + wsThreads - 1) {
            Thread.onSpinWait();
        }
        System.out.println("READY pid=" + ProcessHandle.current().pid() + " holder=" + cacheHolder(mx));
        System.out.flush();
        new CountDownLatch(1).await();
    }
}
