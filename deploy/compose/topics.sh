#!/bin/bash
# Creates Stellwerk's topics with their production settings (compose service kafka-init,
# image apache/kafka). Idempotent: existing topics are left as they are.
#   BOOTSTRAP (kafka:9092)  PARTITIONS (6: inbound and output topics)  REPLICATION (1)
# The same table is in helm/stellwerk/values.yaml (topics.list); a test keeps them equal.
set -euo pipefail
BOOTSTRAP=${BOOTSTRAP:-kafka:9092}
PARTITIONS=${PARTITIONS:-6}
REPLICATION=${REPLICATION:-1}
KT=${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}
DAY=86400000

# name | partitions ("P" = $PARTITIONS) | topic configs (comma separated)
TOPICS="
s301.inbound|P|retention.ms=$((7 * DAY))
stellwerk.replay|P|retention.ms=$((7 * DAY))
kim.inbound|P|retention.ms=$((7 * DAY)),max.message.bytes=20971520
s301.replies|P|retention.ms=$((14 * DAY))
s301.rejected|P|retention.ms=$((30 * DAY))
s301.unroutable|P|retention.ms=$((30 * DAY))
s301.test|P|retention.ms=$((7 * DAY))
stellwerk.dlq|P|retention.ms=$((30 * DAY))
kim.quarantine|P|retention.ms=$((30 * DAY))
kim.notices|P|retention.ms=$((14 * DAY))
stellwerk.routes|1|cleanup.policy=compact,min.compaction.lag.ms=0
mima.cases|1|cleanup.policy=compact,min.compaction.lag.ms=0
kim.unmatched|P|cleanup.policy=compact,min.compaction.lag.ms=0
"

for row in $TOPICS; do
  IFS='|' read -r name parts configs <<<"$row"
  [ "$parts" = P ] && parts=$PARTITIONS
  args=()
  IFS=',' read -ra kvs <<<"$configs"
  for kv in "${kvs[@]}"; do args+=(--config "$kv"); done
  "$KT" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic "$name" \
    --partitions "$parts" --replication-factor "$REPLICATION" "${args[@]}"
done
"$KT" --bootstrap-server "$BOOTSTRAP" --list
