export declare const GENERATED_HEADER: string;
/** The TypeScript of `paths` and `components` for an OpenAPI document. */
export declare function renderApiTypes(doc: unknown): Promise<string>;
