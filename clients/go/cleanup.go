package sidecar

import (
	"context"
	"fmt"
	"time"

	pb "github.com/openmined/syft-sidecar/api/proto/syftsidecar/v1"
)

// CleanupStats are the counts of an app's last cleanup, as syft-event's
// get_cleanup_stats reports them.
type CleanupStats struct {
	RequestsDeleted  uint64
	ResponsesDeleted uint64
	Errors           uint64
	LastCleanup      time.Time // zero before the first run
	Expiry, Interval time.Duration
	Running          bool // whether the periodic cleanup is scheduled
}

// CleanNow has the sidecar remove app's old files at once and reports what
// it removed. The app must have been registered with the sidecar.
func (c *Client) CleanNow(ctx context.Context, app string) (CleanupStats, error) {
	resp, err := c.rpc.CleanNow(ctx, &pb.CleanNowRequest{App: app})
	if err != nil {
		return CleanupStats{}, fmt.Errorf("clean now: %w", err)
	}
	return cleanupStats(resp.GetStats(), resp.GetStats().GetInterval().AsDuration() > 0), nil
}

// CleanupStats reports app's last cleanup.
func (c *Client) CleanupStats(ctx context.Context, app string) (CleanupStats, error) {
	resp, err := c.rpc.GetCleanupStats(ctx, &pb.GetCleanupStatsRequest{App: app})
	if err != nil {
		return CleanupStats{}, fmt.Errorf("get cleanup stats: %w", err)
	}
	return cleanupStats(resp.GetStats(), resp.GetRunning()), nil
}

func cleanupStats(s *pb.CleanupStats, running bool) CleanupStats {
	out := CleanupStats{
		RequestsDeleted:  s.GetRequestsDeleted(),
		ResponsesDeleted: s.GetResponsesDeleted(),
		Errors:           s.GetErrors(),
		Expiry:           s.GetExpiry().AsDuration(),
		Interval:         s.GetInterval().AsDuration(),
		Running:          running,
	}
	if s.GetLastCleanup() != nil {
		out.LastCleanup = s.GetLastCleanup().AsTime()
	}
	return out
}
