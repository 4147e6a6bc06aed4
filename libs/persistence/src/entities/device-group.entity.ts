import { Column, Entity, PrimaryColumn } from 'typeorm';

export const NEW_DEVICES_GROUP = 'New Devices';

@Entity({ name: 'device_groups' })
export class DeviceGroupEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column({ type: 'text', unique: true }) name!: string;
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
}

@Entity({ name: 'device_group_members' })
export class DeviceGroupMemberEntity {
  @PrimaryColumn({ name: 'group_id', type: 'uuid' }) groupId!: string;
  @PrimaryColumn({ name: 'device_id', type: 'uuid' }) deviceId!: string;
}
