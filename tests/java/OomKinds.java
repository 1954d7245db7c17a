// Provokes one kind of OutOfMemoryError in a real JVM and prints its stack trace, so tests
// read the exact messages HotSpot writes (JDK 17: "Cannot reserve ... of direct buffer memory",
// "Metaspace", "Java heap space").
//   java -XX:MaxDirectMemorySize=4m OomKinds.java direct
//   java -XX:MaxMetaspaceSize=16m OomKinds.java metaspace
//   java -Xmx16m OomKinds.java heap
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

public class OomKinds {
    static final List<Object> HOLD = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        try {
            switch (args[0]) {
                case "direct" -> { while (true) HOLD.add(ByteBuffer.allocateDirect(1 << 20)); }
                case "heap" -> { while (true) HOLD.add(new long[1 << 16]); }
                case "metaspace" -> {
                    // Each class loader defines its own copy of a class: metaspace fills up.
                    byte[] code = OomKinds.class.getClassLoader()
                        .getResourceAsStream("OomKinds$Filler.class").readAllBytes();
                    while (true) {
                        ClassLoader l = new ClassLoader(null) {
                            { HOLD.add(defineClass("OomKinds$Filler", code, 0, code.length)); }
                        };
                        HOLD.add(l);
                    }
                }
                default -> throw new IllegalArgumentException(args[0]);
            }
        } catch (OutOfMemoryError e) {
            HOLD.clear();
            e.printStackTrace(System.out);
        }
    }

    static class Filler { long a, b, c, d; }
}
