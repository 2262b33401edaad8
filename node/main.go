package node

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/phantomdb/phantom/api/phantompb"
	"github.com/phantomdb/phantom/core"
)

// Usage is the help text of `phantom node`.
const Usage = `usage: phantom node --id ID [flags]

Runs one PhantomDB node as a process of its own: its Raft replicas (of the
meta group and of shards), replicating with the other nodes over TCP, and the
client and admin API (gRPC) a phantom controller drives them through. phantom
starts such nodes itself with --cluster processes; nodes started by systemd,
docker or Kubernetes are driven with --cluster join=HOST:PORT,...

When ready it prints one line to stdout:
  phantom node ID serving on HOST:PORT
and runs until SIGTERM or SIGINT, until told to exit over the admin API, or
until its parent lease lapses.

flags:
  --id ID                 the node's name (required)
  --listen HOST:PORT      the API's address (default 127.0.0.1:0, a free port)
  --advertise HOST        the host others reach this node at (default the listen host);
                          its Raft replicas listen there too
  --storage memory|disk   where Raft logs live (default memory)
  --data DIR              the data directory (required with --storage disk)
  --log FILE              where the node's log goes (default stderr)
  --parent-lease DURATION exit when the parent has not renewed the lease for this
                          long (default 0: no lease, for nodes started by a supervisor)
  --peers HOST:PORT,...   other nodes' API addresses, for join mode's discovery
`

// Main runs `phantom node` with args (those after "node") and returns the
// process's exit code: 0 after a clean stop, 2 for bad flags, 1 otherwise.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("phantom node", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	id := fs.String("id", "", "")
	listen := fs.String("listen", "127.0.0.1:0", "")
	advertise := fs.String("advertise", "", "")
	storage := fs.String("storage", core.StorageMemory, "")
	data := fs.String("data", "", "")
	logPath := fs.String("log", "", "")
	lease := fs.Duration("parent-lease", 0, "")
	peers := fs.String("peers", "", "")
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "phantom node: "+format+"\n", a...)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, Usage)
			return 0
		}
		return bad("%s (see phantom node --help)", strings.Replace(err.Error(), "-", "--", 1))
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	if *id == "" {
		return bad("--id is required")
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return bad("--listen %q: want HOST:PORT", *listen)
	}
	if *advertise == "" {
		*advertise = host
	}
	if *advertise == "" || *advertise == "0.0.0.0" || *advertise == "::" {
		return bad("--advertise: give the host others reach this node at (the listen host %q is not one)", host)
	}
	switch *storage {
	case core.StorageMemory:
	case core.StorageDisk:
		if *data == "" {
			return bad("--data is required with --storage disk")
		}
	default:
		return bad("--storage must be memory or disk, got %q", *storage)
	}
	if *lease < 0 {
		return bad("--parent-lease must not be negative, got %v", *lease)
	}
	var peerList []string
	for p := range strings.SplitSeq(*peers, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(p); err != nil {
			return bad("--peers %q: want HOST:PORT,...", p)
		}
		peerList = append(peerList, p)
	}
	logw := stderr
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return bad("--log: %v", err)
		}
		defer f.Close()
		logw = f
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(logw, "%s node %s: %s\n", time.Now().Format(time.RFC3339Nano), *id, fmt.Sprintf(format, a...))
	}
	nh, err := core.NewNodeHost(core.NodeHostConfig{ID: *id, Host: *advertise, Storage: *storage, DataDir: *data, LogOutput: logw})
	if err != nil {
		fmt.Fprintf(stderr, "phantom node: %v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "phantom node: listen on %s: %v\n", *listen, err)
		return 1
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	addr := net.JoinHostPort(*advertise, port)
	srv := NewServer(nh, addr, *storage, peerList)
	gs := grpc.NewServer(serverOptions()...)
	phantompb.RegisterNodeServer(gs, srv)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(srv.Listen(ln)) }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if *lease > 0 {
		go srv.watchLease(ctx, *lease)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	logf("serving on %s (pid %d, storage %s, parent lease %v)", addr, os.Getpid(), *storage, *lease)
	fmt.Fprintf(stdout, "phantom node %s serving on %s\n", *id, addr)

	code := 0
	select {
	case sig := <-sigs:
		logf("%v: stopping", sig)
	case req := <-srv.exitRequests():
		if req.abrupt {
			logf("told to exit at once")
			return 1 // no goodbye: as a crash
		}
		if time.Since(time.Unix(0, srv.renewed.Load())) > *lease && *lease > 0 {
			logf("the parent lease (%v) lapsed: stopping", *lease)
			code = 3
		} else {
			logf("told to exit: stopping")
		}
	case err := <-served:
		logf("the API stopped: %v", err)
		code = 1
	}
	cancel()
	gs.Stop()
	if err := nh.Close(); err != nil {
		logf("stopping replicas: %v", err)
	}
	logf("stopped")
	return code
}
