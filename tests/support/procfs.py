"""What /proc says about a process: resident memory and CPU time. Standard library only.

    import procfs
    procfs.rss_kib(server.pid)      # VmRSS in KiB, None once the process is gone
    procfs.cpu_seconds(server.pid)  # user + system seconds so far (OSError once it is gone)
"""
import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    """VmRSS of `pid` in KiB, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_seconds(pid):
    """User + system CPU time `pid` has used so far; OSError once it is gone."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # the name may hold spaces and parentheses
    return (int(fields[11]) + int(fields[12])) / CLK_TCK
