import sys
# 10 000 000 distinct stage-1 keys of the seed rule (exec by installer), then curls that
# complete the first and the last key.
w = sys.stdout.write
base = 1790000000000
N = 10_000_000
tmpl = '{"@timestamp":%d,"event":{"id":"f-%d","category":["process"],"type":["start"],"action":"exec"},"host":{"id":"flood","os":{"type":"macos"}},"process":{"name":"bash","entity_id":"E-%d","parent":{"name":"installer"}}}\n'
buf = []
for i in range(N):
    buf.append(tmpl % (base + i // 1000, i, i))
    if len(buf) == 100000:
        w(''.join(buf)); buf = []
w(''.join(buf))
for i in (0, N - 1):
    w('{"@timestamp":%d,"event":{"id":"c-%d","category":["network"],"type":["start"]},"host":{"id":"flood","os":{"type":"macos"}},"process":{"name":"curl","parent":{"entity_id":"E-%d"}}}\n' % (base + N // 1000 - 1, i, i))
