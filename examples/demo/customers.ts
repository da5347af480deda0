/**
 * Fictional borrowers for the demo, derived from the business key so a case's input is the same
 * on every run (the engine refuses a second start with different input for one business key).
 */
export interface DemoCustomer {
  readonly name: string;
  readonly idNo: string;
  readonly mobile: string;
  readonly bankCardNo: string;
  readonly bankCode: string;
}

const surnames = ["张", "王", "李", "赵", "陈", "刘", "杨", "黄"];
const givenNames = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "勇"];
const banks = ["ICBC", "CCB", "ABC", "BOC", "CMB"];

export function customerFor(key: string): DemoCustomer {
  let hash = 2166136261;
  for (let index = 0; index < key.length; index++) {
    hash ^= key.charCodeAt(index);
    hash = Math.imul(hash, 16777619) >>> 0;
  }
  const digits = String(hash).padStart(10, "0").slice(-8);
  return {
    name: `${surnames[hash % surnames.length]}${givenNames[(hash >>> 8) % givenNames.length]}`,
    idNo: `11010119900307${digits.slice(0, 4)}`,
    mobile: `138${digits}`,
    bankCardNo: `62220202${digits}${digits.slice(0, 3)}`,
    bankCode: banks[(hash >>> 16) % banks.length] ?? "ICBC",
  };
}
