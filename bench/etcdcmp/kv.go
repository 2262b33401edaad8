package etcdcmp

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"
)

// KV puts keys into etcd over its gRPC API (etcdserverpb.KV/Put), the call
// etcd's own benchmark and clientv3 make. The two messages involved are
// encoded by hand with protowire — PutRequest{key = 1, value = 2} and
// PutResponse{header = 1 {revision = 3}} — rather than importing etcd's
// generated code and its dependencies for them.
type KV struct {
	conns []*grpc.ClientConn
}

const putMethod = "/etcdserverpb.KV/Put"

// DialKV opens conns gRPC connections, spread round robin over endpoints.
func DialKV(endpoints []string, conns int) (*KV, error) {
	if len(endpoints) == 0 || conns < 1 {
		return nil, errors.New("etcdcmp: no endpoints or connections")
	}
	k := &KV{}
	for i := 0; i < conns; i++ {
		cc, err := grpc.NewClient(endpoints[i%len(endpoints)],
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
		if err != nil {
			k.Close()
			return nil, err
		}
		k.conns = append(k.conns, cc)
	}
	return k, nil
}

// Conns is the number of connections.
func (k *KV) Conns() int { return len(k.conns) }

// Put stores value under key through connection conn (mod Conns) and returns
// the revision etcd committed it at. buf is scratch space for the request,
// reused across calls by one client so a put allocates only in gRPC.
func (k *KV) Put(ctx context.Context, conn int, key, value []byte, buf *[]byte) (int64, error) {
	req := (*buf)[:0]
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	req = protowire.AppendBytes(req, key)
	req = protowire.AppendTag(req, 2, protowire.BytesType)
	req = protowire.AppendBytes(req, value)
	*buf = req
	var resp []byte
	if err := k.conns[conn%len(k.conns)].Invoke(ctx, putMethod, &req, &resp); err != nil {
		return 0, err
	}
	return putRevision(resp)
}

// putRevision reads PutResponse.header.revision.
func putRevision(resp []byte) (int64, error) {
	header, ok := field(resp, 1, protowire.BytesType)
	if !ok {
		return 0, fmt.Errorf("etcdcmp: put response without a header (%d bytes)", len(resp))
	}
	rev, ok := field(header, 3, protowire.VarintType)
	if !ok {
		return 0, errors.New("etcdcmp: put response header without a revision")
	}
	v, n := protowire.ConsumeVarint(rev)
	if n < 0 || v == 0 {
		return 0, errors.New("etcdcmp: put response with a bad revision")
	}
	return int64(v), nil
}

// field returns the encoded value of the first field num of type typ in msg:
// the bytes' contents for BytesType, the varint's bytes for VarintType.
func field(msg []byte, num protowire.Number, typ protowire.Type) ([]byte, bool) {
	for len(msg) > 0 {
		n, t, l := protowire.ConsumeTag(msg)
		if l < 0 {
			return nil, false
		}
		msg = msg[l:]
		if n == num && t == typ {
			if t == protowire.BytesType {
				v, l := protowire.ConsumeBytes(msg)
				return v, l >= 0
			}
			return msg, true
		}
		l = protowire.ConsumeFieldValue(n, t, msg)
		if l < 0 {
			return nil, false
		}
		msg = msg[l:]
	}
	return nil, false
}

// Close closes the connections.
func (k *KV) Close() {
	for _, cc := range k.conns {
		cc.Close()
	}
}

// rawCodec passes already-encoded protobuf bytes through gRPC. Its name is
// "proto", so the wire carries application/grpc+proto as with generated code.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("etcdcmp: cannot marshal %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("etcdcmp: cannot unmarshal into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}
