// A Node.js program that uses qapi-jobs with nothing but the .proto files in
// proto/ (plus google/rpc/*.proto to read error details): it starts a job,
// follows it on the event stream to "concluded", and reads the machine-readable
// error of a refused verb.
//
// Run by tests/client/test_client_node.py, which starts a server and sets
// QAPI_JOBS_SERVER to its address; or by hand: QAPI_JOBS_SERVER=... npm test

import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const protoRoot = path.resolve(here, "../../proto");
const vendored = path.join(here, "protos");
const address = process.env.QAPI_JOBS_SERVER ?? "127.0.0.1:50051";

const definition = protoLoader.loadSync(
  ["qapi_jobs/v1/service.proto", "qapi_jobs/v1/watch.proto"],
  {
    includeDirs: [protoRoot],
    keepCase: true, // field names as in the .proto files: job_id, send_initial_snapshot
    enums: String, // enum values by name: JOB_STATUS_CONCLUDED
    longs: Number,
    defaults: true,
    oneofs: true, // a oneof's name holds the name of the field that is set
  },
);
const v1 = grpc.loadPackageDefinition(definition).qapi_jobs.v1;
const credentials = grpc.credentials.createInsecure();
const jobs = new v1.JobsService(address, credentials);
const watch = new v1.WatchService(address, credentials);

// google.rpc.Status and ErrorInfo, to decode the grpc-status-details-bin trailer.
const rpcTypes = protobuf.loadSync([
  path.join(vendored, "google/rpc/status.proto"),
  path.join(vendored, "google/rpc/error_details.proto"),
]);
const Status = rpcTypes.lookupType("google.rpc.Status");
const ErrorInfo = rpcTypes.lookupType("google.rpc.ErrorInfo");

function call(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + 10_000 }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

test("a job followed on the event stream, from start to concluded", async () => {
  const jobId = `node-${process.pid}`;
  const stream = watch.WatchEvents({ job_ids: [jobId], send_initial_snapshot: true });
  const statuses = [];
  const done = new Promise((resolve, reject) => {
    stream.on("data", (message) => {
      if (message.item === "snapshot_end") {
        // The stream now sees everything that happens to the job: start it.
        const options = {
          driver: "IMAGE_DRIVER_RAW",
          raw: { filename: `${jobId}.raw`, size: 1 << 20 },
        };
        call(jobs, "BlockdevCreate", { job_id: jobId, options }).catch(reject);
      } else if (message.item === "event") {
        const { event, sequence } = message.event;
        assert.ok(sequence > 0);
        if (event.kind === "job_status_change") {
          assert.equal(event.job_status_change.id, jobId);
          statuses.push(event.job_status_change.status);
          if (event.job_status_change.status === "JOB_STATUS_CONCLUDED") {
            stream.cancel();
            resolve();
          }
        }
      }
    });
    stream.on("error", (error) => {
      if (error.code !== grpc.status.CANCELLED) reject(error);
    });
  });
  await done;
  assert.deepEqual(statuses, [
    "JOB_STATUS_CREATED",
    "JOB_STATUS_RUNNING",
    "JOB_STATUS_WAITING",
    "JOB_STATUS_PENDING",
    "JOB_STATUS_CONCLUDED",
  ]);
  const listed = await call(jobs, "QueryJobs", {});
  const job = listed.result.find((info) => info.id === jobId);
  assert.equal(job.type, "JOB_TYPE_CREATE");
  assert.equal(job.total_progress, 1 << 20);
  await call(jobs, "JobDismiss", { id: jobId });
});

test("a refused verb carries google.rpc.ErrorInfo in grpc-status-details-bin", async () => {
  const error = await call(jobs, "JobPause", { id: "no-such-job" }).then(
    () => assert.fail("job-pause of an unknown job succeeded"),
    (refusal) => refusal,
  );
  assert.equal(error.code, grpc.status.NOT_FOUND);
  assert.equal(error.details, "Job not found");
  const [details] = error.metadata.get("grpc-status-details-bin");
  assert.ok(Buffer.isBuffer(details), "no grpc-status-details-bin trailer");
  const status = Status.decode(details);
  assert.equal(status.code, grpc.status.NOT_FOUND);
  assert.equal(status.message, "Job not found");
  const info = status.details.find(
    (any) => any.type_url === "type.googleapis.com/google.rpc.ErrorInfo",
  );
  assert.ok(info, "no ErrorInfo among the details");
  const errorInfo = ErrorInfo.decode(info.value);
  assert.equal(errorInfo.reason, "JOB_NOT_FOUND");
  assert.equal(errorInfo.domain, "qapi-jobs.qapi_jobs.v1");
  assert.equal(errorInfo.metadata.job_id, "no-such-job");
});

test.after(() => {
  jobs.close();
  watch.close();
});
