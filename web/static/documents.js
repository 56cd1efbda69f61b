// Every GraphQL document the browser pages send, and nothing else: `make documents` hashes the
// exported ones into web/trusted-documents.json, the manifest a server with trusted documents
// (ENROLLWIRE_TRUSTED_DOCUMENTS) runs. A page that writes its own document elsewhere fails
// tests/clients/test_trusted_documents.py. Plain strings, no DOM: node reads this file too.

// The admin console.
const ROW = `fragment Row on Enrollment {
  id userId status version createdAt paymentReference
  course { title } amountDue { amount currency } amountPaid { amount currency }
}`;
export const PENDING = `query Pending { pendingEnrollments(first: 100) { edges { node { ...Row } } totalCount } } ${ROW}`;
export const EVENTS = `subscription Events { adminEnrollmentEvents { type enrollment { ...Row } } } ${ROW}`;
const DECIDED = "enrollment { ...Row } errors { code message }";
export const APPROVE = `mutation Approve($id: ID!) { approveEnrollment(enrollmentId: $id) { ${DECIDED} } } ${ROW}`;
export const REJECT = `mutation Reject($id: ID!, $reason: String!) {
  rejectEnrollment(enrollmentId: $id, reason: $reason) { ${DECIDED} } } ${ROW}`;
export const BULK = `mutation BulkApprove($ids: [ID!]!) {
  bulkApproveEnrollments(enrollmentIds: $ids) { approved { ...Row } errors { code message } } } ${ROW}`;
export const JOBS = `query Jobs($status: JobStatus) {
  jobs(status: $status, first: 100) { edges { node { id kind enrollmentId status attempts nextRunAt lastError } } totalCount }
  jobStats { pending running succeeded dead }
}`;
export const RETRY_JOB = "mutation RetryJob($id: ID!) { retryJob(id: $id) { job { id status } errors { code message } } }";

// The catalogue.
const CARD = `fragment Card on CourseCard {
  course { id title price { amount currency } }
  buttonText action disabled hasAccess version
  enrollment {
    id status paymentMethod paymentReference couponCode rejectionReason
    amountDue { amount currency } access { status attempts }
  }
}`;
export const CARDS = `query Cards { courseCards { ...Card } } ${CARD}`;
export const LIVE_CARD = `subscription LiveCard($courseId: ID!) { courseCard(courseId: $courseId) { ...Card } } ${CARD}`;
const PAYLOAD = "card { ...Card } payment { redirectUrl } errors { code message }";
export const ENROLL = `mutation Enroll($input: EnrollInput!) { enroll(input: $input) { ${PAYLOAD} } } ${CARD}`;
export const RETRY = `mutation RetryPayment($id: ID!) { retryPayment(enrollmentId: $id) { ${PAYLOAD} } } ${CARD}`;
