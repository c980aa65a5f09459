# ZooKeeper, standalone: zoo.cfg and data in the sandbox, logs on stderr
# (slf4j-simple), the JVM of openjdk-17-jre-headless from root/.
own data tmp
cat > zoo.cfg <<CFG
tickTime=$ZOOKEEPER_TICK_TIME
dataDir=$PWD/data
clientPort=$PORT0
clientPortAddress=0.0.0.0
maxClientCnxns=$ZOOKEEPER_MAX_CLIENT_CNXNS
autopurge.snapRetainCount=3
autopurge.purgeInterval=$ZOOKEEPER_AUTOPURGE_HOURS
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr
CFG
J="$R/usr/share/java"
run "$R/usr/lib/jvm/java-17-openjdk-amd64/bin/java" \
  -Xms"$ZOOKEEPER_HEAP_MB"m -Xmx"$ZOOKEEPER_HEAP_MB"m -XX:+ExitOnOutOfMemoryError -XX:-UsePerfData \
  -Djava.io.tmpdir="$PWD/tmp" -Duser.home="$PWD" \
  -Dorg.slf4j.simpleLogger.showDateTime=true -Dorg.slf4j.simpleLogger.dateTimeFormat="yyyy-MM-dd HH:mm:ss.SSS" \
  -Dzookeeper.jmx.log4j.disable=true \
  -cp "$J/zookeeper.jar:$J/zookeeper-jute.jar:$J/slf4j-api.jar:$J/slf4j-simple.jar:$J/metrics-core.jar:$J/snappy-java.jar" \
  org.apache.zookeeper.server.quorum.QuorumPeerMain "$PWD/zoo.cfg"
