// Every GraphQL document the browser pages send, and nothing else: `make documents` hashes the
// exported ones into web/trusted-documents.json, the manifest a server with trusted documents
// (ENROLLWIRE_TRUSTED_DOCUMENTS) runs. A page that writes its own document elsewhere fails
// tests/clients/test_trusted_documents.py. Plain strings, no DOM: node reads this file too.

// The admin console.
const ROW = `fragment Row on Enrollment {
  id userId userEmail status version createdAt paymentReference
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
  buttonText action disabled hasAccess version continueUrl
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
export const RETRY_ACCESS = `mutation RetryAccess($id: ID!) { retryAccess(enrollmentId: $id) { ${PAYLOAD} } } ${CARD}`;

// One enrollment for an admin: details, timeline, Revoke.
const FIELDS = `fragment Full on Enrollment {
  id userId userEmail courseId course { title } status paymentMethod version createdAt
  amountDue { amount currency } amountPaid { amount currency } couponCode paymentReference
  gatewayTransactionId rejectionReason approvedAt rejectedAt revokedAt decidedBy
  access { status attempts lastError }
  history { at version status previousStatus actor { kind id } action reason }
}`;
export const ENROLLMENT = `query Enrollment($id: ID!) { enrollment(id: $id) { ...Full } } ${FIELDS}`;
export const ENROLLMENT_EVENTS = "subscription EnrollmentEvents { adminEnrollmentEvents { enrollment { id } } }";
export const REVOKE = `mutation Revoke($id: ID!, $reason: String!) {
  revokeEnrollment(enrollmentId: $id, reason: $reason) { enrollment { ...Full } errors { code message } } } ${FIELDS}`;

// The audit log.
export const AUDIT = `query Audit($filter: AuditFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    edges { node { id at actor { kind id } action enrollmentId targetId detail } }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
}`;

// Enrollment search (the admin's enrollments page).
export const SEARCH = `query Search($filter: EnrollmentFilter, $after: String) {
  enrollments(filter: $filter, first: 25, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id userId userEmail status paymentMethod paymentReference createdAt
      course { title } amountDue { amount currency } } }
  }
}`;
export const BULK_REJECT = `mutation BulkReject($ids: [ID!]!, $reason: String!) {
  bulkRejectEnrollments(enrollmentIds: $ids, reason: $reason) { rejected { id } errors { message } }
}`;

// Courses and coupons (the admin's catalogue page).
export const COURSES = "query Courses { courseCards { course { id title published price { amount currency } } } }";
export const UPDATE = `mutation UpdateCourse($id: ID!, $input: UpdateCourseInput!) {
  updateCourse(id: $id, input: $input) { course { id title published price { amount currency } } errors { message } }
}`;
export const COUPONS = `query Coupons($after: String) {
  coupons(first: 50, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { code percentOff amountOff { amount currency } maxRedemptions redeemed reserved expiresAt disabledAt } }
  }
}`;
export const DISABLE = "mutation Disable($code: String!) { disableCoupon(code: $code) { coupon { code disabledAt } errors { message } } }";

// The dashboard.
export const DASHBOARD = `query Dashboard($days: Int!) {
  dashboard(days: $days) {
    since pendingApprovals jobs { pending dead }
    perDay { day status count }
    conversion { paymentMethod enrolled approved rate }
    paymentConfirmation { samples p50Seconds p90Seconds }
    approvalWait { samples p50Seconds p90Seconds }
  }
}`;
export const DASHBOARD_EVENTS = "subscription DashboardEvents { adminEnrollmentEvents { type } }";
